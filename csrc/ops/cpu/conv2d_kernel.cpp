// conv2d on the CPU, tile by tile: a tile is one image, one group and a band
// of output rows, and each OpenMP thread takes whole tiles, so its scratch
// buffers stay in its own 2 MiB L2 (mmcv's im2col_step idea at a finer grain)
// and the cores never wait on each other inside a call.
//
// kIm2colGemm: im2col of the band into a column buffer, then ATen's GEMM with
// the group's weights, writing the output band in place. Inside an OpenMP
// parallel region BLAS does not fork again: each GEMM runs on its own thread.
//
// kDirect: the column buffer repeats every input pixel kh * kw / (sh * sw)
// times, and for few output channels per group (ResNeXt's 8, depthwise's 1)
// writing it costs more than the GEMM that reads it once per channel. So
// instead the band is im2col'd with the stride's polyphase taps (sh x sw, no
// dilation) as the kernel: for stride 1 a zero-padded copy, otherwise the
// space-to-depth split. In that copy, output (out_y, out_x) reads tap (ki, kj)
// at q + offset(ci, ki, kj), where q = (out_y - out_y0) * row_len + out_x is
// linear in the output: every tap is one contiguous, shifted window, and the
// convolution is a GEMM whose B operand is read straight from the copy. A
// register block of 8 output channels x 32 or 48 consecutive q accumulates
// over all taps; the (kw - 1) * dw / sw columns of q past out_w in each row
// are computed and dropped (3.5 % for 3 x 3 at 56 x 56, 7 % dilated).
// Measured on every benchmark case (dense, dilated, grouped, depthwise,
// strided stem), kDirect beat kIm2colGemm with MKL's GEMM by 1.1-3x.
#include <ATen/ATen.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/conv2d.h"
#include "ops/cpu/direct_block.h"

namespace kernel_arena {

namespace {

using namespace cpu;

// A GEMM narrower than this many output pixels runs well below BLAS's peak
// (panel setup and edges dominate): an im2col band is never narrower, even
// where that takes the column buffer past its budget.
constexpr int64_t kMinBandColumns = 256;
// Tiles per thread to aim for, so the last tiles do not leave a core idle.
constexpr int64_t kTilesPerThread = 2;

template <typename T, int kStrideW>
void im2col_rows(const T* image, Conv2dGeometry g, int64_t c0, int64_t channels, int64_t out_y0, int64_t out_y1,
                 T* col) {
  // A stride known at compile time (kStrideW > 0) vectorises better: stride
  // 1 becomes contiguous masked loads, and stride 2 measured 1.4x faster than
  // a runtime stride.
  if constexpr (kStrideW > 0) g.stride_w = kStrideW;
  const int64_t out_w = g.out_w, columns = (out_y1 - out_y0) * out_w;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        T* row = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * columns;
        for (int64_t out_y = out_y0; out_y < out_y1; ++out_y) {
          T* dst = row + (out_y - out_y0) * out_w;
#pragma omp simd
          for (int64_t out_x = 0; out_x < out_w; ++out_x)
            dst[out_x] = im2col_element(image, g, c0 + c, ki, kj, out_y, out_x);
        }
      }
}

// Output rows split into bands of band_rows; a tile is (image, group, band).
struct Tiling {
  int64_t band_rows, bands, tiles;

  int64_t image(int64_t tile, int64_t groups) const { return tile / (groups * bands); }
  int64_t group(int64_t tile, int64_t groups) const { return tile / bands % groups; }
  int64_t first_row(int64_t tile) const { return tile % bands * band_rows; }
};

// Bands of about band_rows (at least min_band_rows), split further until
// every thread gets tiles, in a multiple of the thread count while tiles are
// few: 5 tiles on 2 threads leave one thread idle for a fifth of the call.
Tiling tile(int64_t n, int64_t groups, int64_t out_h, int64_t band_rows, int64_t min_band_rows) {
  const int64_t threads = omp_get_max_threads();
  min_band_rows = std::min(min_band_rows, out_h);
  int64_t bands = (out_h + std::max(band_rows, min_band_rows) - 1) / std::max(band_rows, min_band_rows);
  for (; bands < out_h / min_band_rows; ++bands) {
    const int64_t tiles = n * groups * bands;
    if (tiles >= 8 * threads || (tiles >= kTilesPerThread * threads && tiles % threads == 0)) break;
  }
  band_rows = (out_h + bands - 1) / bands;
  bands = (out_h + band_rows - 1) / band_rows;
  return {band_rows, bands, n * groups * bands};
}

// Whether a kernel's output (n, groups * cout_per_group, out_h, out_w) goes
// to memory through streaming stores (see kStreamOutputBytes).
template <typename T>
bool streams_output(int64_t n, int64_t groups, int64_t cout_per_group, const Conv2dGeometry& g) {
  return n * groups * cout_per_group * g.out_h * g.out_w * int64_t(sizeof(T)) >= kStreamOutputBytes;
}

// A 2-D view of raw memory for ATen's GEMM; nothing is copied or owned.
template <typename T>
at::Tensor matrix_view(const T* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return at::from_blob(const_cast<T*>(data), {rows, cols}, {row_stride, 1},
                       at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
}

template <typename T>
void conv2d_im2col_gemm(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                        const T* weight, const T* bias, T* y) {
  const int64_t cin_per_group = g.channels / groups;
  const int64_t patch = cin_per_group * g.kernel_h * g.kernel_w;  // GEMM K: one column of the buffer
  const int64_t out_pixels = g.out_h * g.out_w, image_size = g.channels * g.height * g.width;
  const Tiling tiling = tile(n, groups, g.out_h, kScratchBudgetBytes / (patch * g.out_w * int64_t(sizeof(T))),
                             (kMinBandColumns + g.out_w - 1) / g.out_w);

  ParallelErrors errors;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiling.tiles; ++t) errors.run([&] {
    const int64_t image = tiling.image(t, groups), group = tiling.group(t, groups);
    const int64_t out_y0 = tiling.first_row(t), out_y1 = std::min(g.out_h, out_y0 + tiling.band_rows);
    const int64_t columns = (out_y1 - out_y0) * g.out_w;
    T* col = thread_scratch<T, 0>(patch * tiling.band_rows * g.out_w);
    im2col_cpu(x + image * image_size, g, group * cin_per_group, cin_per_group, out_y0, out_y1, col);

    // The band of this group's output channels: rows out_pixels apart.
    T* out = y + (image * groups + group) * cout_per_group * out_pixels + out_y0 * g.out_w;
    at::Tensor out_band = matrix_view(out, cout_per_group, columns, out_pixels);
    at::mm_out(out_band, matrix_view(weight + group * cout_per_group * patch, cout_per_group, patch, patch),
               matrix_view(col, patch, columns, columns));
    if (bias) {  // while the band is still in cache
      for (int64_t co = 0; co < cout_per_group; ++co) {
        const T b = bias[group * cout_per_group + co];
        T* row = out + co * out_pixels;
#pragma omp simd
        for (int64_t p = 0; p < columns; ++p) row[p] += b;
      }
    }
  });
  errors.rethrow();
}

// Rows [r0, r0 + rows) of the py x px polyphase planes of channels [c0, c0 +
// channels) of one image: copy[ci][ry][rx][r][c] = the padded input pixel
// (py (r0 + r) + ry, px c + rx), zero in the padding; planes of rows x
// row_len. The interior of each row goes through split_phases (a memcpy for
// px = 1); only the padding columns take the bounds test. Both CPU
// kernels' copies: the direct kernel's with the stride as (py, px), and
// Winograd's with (2 dh, 2 dw).
template <typename T>
void polyphase_copy(const T* image, const Conv2dGeometry& g, int64_t c0, int64_t channels, int64_t py, int64_t px,
                    int64_t r0, int64_t rows, int64_t row_len, T* copy) {
  const int64_t plane = rows * row_len;
  const int64_t c_lo = std::min(row_len, (g.pad_w + px - 1) / px);  // from here px c + rx - pad_w >= 0
  const int64_t c_hi = std::max(c_lo, std::min(row_len, (g.width + g.pad_w) / px));  // and < width below
  for (int64_t ci = 0; ci < channels; ++ci)
    for (int64_t ry = 0; ry < py; ++ry)
      for (int64_t r = 0; r < rows; ++r) {
        T* dst = copy + (ci * py + ry) * px * plane + r * row_len;  // plane (ry, rx) at dst + rx * plane
        const int64_t iy = py * (r0 + r) + ry - g.pad_h;
        if (iy < 0 || iy >= g.height) {
          for (int64_t rx = 0; rx < px; ++rx) std::fill(dst + rx * plane, dst + rx * plane + row_len, T(0));
          continue;
        }
        const T* src = image + ((c0 + ci) * g.height + iy) * g.width;
        const auto edge = [&](int64_t c) {
          for (int64_t rx = 0; rx < px; ++rx) {
            const int64_t ix = px * c + rx - g.pad_w;
            dst[rx * plane + c] = ix >= 0 && ix < g.width ? src[ix] : T(0);
          }
        };
        for (int64_t c = 0; c < c_lo; ++c) edge(c);
        split_phases(src + px * c_lo - g.pad_w, px, c_hi - c_lo, dst + c_lo, plane);
        for (int64_t c = c_hi; c < row_len; ++c) edge(c);
      }
}

// The rows of x that a tile reads (through its polyphase copy, or straight
// for undilated Winograd), prefetched a share at a time while the tile
// before it computes: the convolution itself is FMA-bound, but it waits on
// DRAM unless its input is already on the way. A cursor over (channel,
// line), so no division per line (one per prefetch measured ~9 % of
// ResNeXt's Winograd time).
template <typename T>
class TilePrefetch {
 public:
  TilePrefetch(const T* first_channel, int64_t channels, int64_t channel_stride, int64_t lines_per_channel)
      : channel_(reinterpret_cast<const char*>(first_channel)),
        channel_bytes_(channel_stride * int64_t(sizeof(T))),
        lines_per_channel_(lines_per_channel),
        left_(channels * lines_per_channel) {}

  int64_t lines() const { return left_; }
  // The next `count` lines, or as many as are left.
  void prefetch(int64_t count) {
    for (count = std::min(count, left_), left_ -= count; count > 0; --count) {
      __builtin_prefetch(channel_ + 64 * line_);
      if (++line_ == lines_per_channel_) line_ = 0, channel_ += channel_bytes_;
    }
  }

 private:
  const char* channel_;  // row `first row` of the current channel
  int64_t channel_bytes_, lines_per_channel_, line_ = 0, left_;
};

// Tile t + 1's input, none past the last tile: the copy of a band starting
// at output row r reads input rows from r * step - pad_h, up to input_rows.
template <typename T>
TilePrefetch<T> next_tile_input(const T* x, const Conv2dGeometry& g, const Tiling& tiling, int64_t t, int64_t groups,
                                int64_t channels, int64_t step, int64_t input_rows) {
  if (++t >= tiling.tiles) return {x, 0, 0, 0};
  const int64_t row0 = std::clamp<int64_t>(tiling.first_row(t) * step - g.pad_h, 0, g.height);
  const int64_t rows = std::min(input_rows, g.height - row0);
  const int64_t channel0 = tiling.image(t, groups) * g.channels + tiling.group(t, groups) * channels;
  const T* first = x + (channel0 * g.height + row0) * g.width;
  return {first, channels, g.height * g.width, (rows * g.width * int64_t(sizeof(T)) + 63) / 64};
}

template <typename T>
void conv2d_direct(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                   const T* weight, const T* bias, T* y) {
  const int64_t cin_per_group = g.channels / groups;
  const int64_t taps = cin_per_group * g.kernel_h * g.kernel_w;
  const int64_t out_pixels = g.out_h * g.out_w, image_size = g.channels * g.height * g.width;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  // The polyphase copy: plane (ci, ry, rx), row r, column c holds the padded
  // input pixel ((out_y0 + r) * sh + ry, c * sw + rx) -- the im2col of the
  // band with an sh x sw kernel, stride (sh, sw) and no dilation. Tap (ki, kj)
  // reads plane ((ki dh) % sh, (kj dw) % sw) shifted by ((ki dh) / sh, (kj dw) / sw).
  const int64_t reach_h = (g.kernel_h - 1) * g.dilation_h / sh, reach_w = (g.kernel_w - 1) * g.dilation_w / sw;
  const int64_t row_len = g.out_w + reach_w;

  const int64_t row_bytes = (cin_per_group * sh * sw + cout_per_group) * row_len * int64_t(sizeof(T));
  const Tiling tiling = tile(n, groups, g.out_h, kScratchBudgetBytes / row_bytes - reach_h, 4);
  const int64_t copy_rows = tiling.band_rows + reach_h, plane = copy_rows * row_len;
  const int64_t copy_size = cin_per_group * sh * sw * plane;
  // Vectors per block: whichever pads a full band's q run less (ties: 3).
  const int64_t band_q = (tiling.band_rows - 1) * row_len + g.out_w;
  const auto padded_q = [&](int64_t vectors) {
    const int64_t block = vectors * kLanes<T>;
    return (band_q + block - 1) / block * block;
  };
  const int64_t block_vectors = padded_q(2) < padded_q(3) ? 2 : 3, block_q = block_vectors * kLanes<T>;
  const int64_t out_ld = padded_q(block_vectors);
  const int64_t input_rows = std::min(g.height, copy_rows * sh);

  // Kept between calls like the scratch: a fresh heap block here sat between
  // y and the heap top, and freeing y then trimmed the heap, so every call
  // page-faulted y in anew (measured ~15 MB per call for ResNeXt).
  int64_t* tap_offset = thread_scratch<int64_t, 0>(taps);
  for (int64_t ci = 0; ci < cin_per_group; ++ci)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const int64_t dy = ki * g.dilation_h, dx = kj * g.dilation_w;
        tap_offset[(ci * g.kernel_h + ki) * g.kernel_w + kj] =
            ((ci * sh + dy % sh) * sw + dx % sw) * plane + dy / sh * row_len + dx / sw;
      }
  // Weights packed per register block (see pack_block_weights), group by group.
  T* packed = thread_scratch<T, 2>(groups * cout_per_group * taps);
  for (int64_t group = 0; group < groups; ++group)
    pack_block_weights(weight + group * cout_per_group * taps, cout_per_group, taps,
                       packed + group * cout_per_group * taps);
  const bool stream_output = streams_output<T>(n, groups, cout_per_group, g);
  ParallelErrors errors;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiling.tiles; ++t) errors.run([&] {
    const int64_t image = tiling.image(t, groups), group = tiling.group(t, groups);
    const int64_t out_y0 = tiling.first_row(t), out_y1 = std::min(g.out_h, out_y0 + tiling.band_rows);
    T* copy = thread_scratch<T, 0>(copy_size + block_q);
    T* out = thread_scratch<T, 1>(cout_per_group * out_ld);
    polyphase_copy(x + image * image_size, g, group * cin_per_group, cin_per_group, sh, sw, out_y0, copy_rows,
                   row_len, copy);
    // The last block of q reads up to block_q - 1 past the copy: zeros, dropped.
    std::fill(copy + copy_size, copy + copy_size + block_q, T(0));

    // Static scheduling hands each thread consecutive tiles: t + 1 is usually next.
    TilePrefetch<T> next = next_tile_input(x, g, tiling, t, groups, cin_per_group, sh, input_rows);
    const int64_t q_end = (out_y1 - out_y0 - 1) * row_len + g.out_w;
    const int64_t lines_per_block = (next.lines() * block_q + q_end - 1) / q_end;
    const T* group_weight = packed + group * cout_per_group * taps;
    T* y_band = y + (image * groups + group) * cout_per_group * out_pixels + out_y0 * g.out_w;
    for (int64_t q = 0; q < q_end; q += block_q) {
      next.prefetch(lines_per_block);
      for (int64_t co = 0, mr; co < cout_per_group; co += mr) {
        mr = block_channels(cout_per_group - co);
        if (block_vectors == 2)
          run_block<T, 2>(mr, copy + q, tap_offset, taps, group_weight + co * taps, out + co * out_ld + q, out_ld);
        else
          run_block<T, 3>(mr, copy + q, tap_offset, taps, group_weight + co * taps, out + co * out_ld + q, out_ld);
      }
    }

    // Rows of row_len in the band -> rows of out_w in y, bias added on the
    // way; streamed outputs gather each channel's rows into one contiguous
    // run first, since streaming stores want whole 64-byte lines.
    T* run = stream_output ? thread_scratch<T, 3>(tiling.band_rows * g.out_w) : nullptr;
    const int64_t run_size = (out_y1 - out_y0) * g.out_w;
    for (int64_t co = 0; co < cout_per_group; ++co) {
      const T b = bias ? bias[group * cout_per_group + co] : T(0);
      T* dst = y_band + co * out_pixels;
      T* rows = stream_output ? run : dst;
      for (int64_t r = 0; r < out_y1 - out_y0; ++r) {
        const T* src = out + co * out_ld + r * row_len;
#pragma omp simd
        for (int64_t out_x = 0; out_x < g.out_w; ++out_x) rows[r * g.out_w + out_x] = src[out_x] + b;
      }
      if (stream_output) stream_copy(dst, run, run_size);
    }
    if (stream_output) stream_fence();  // streaming stores are weakly ordered: publish before the barrier
  });
  errors.rethrow();
}

// -- Winograd F(2 x 2, 3 x 3) ------------------------------------------------
//
// A 3 x 3, stride-1 convolution computes each 2 x 2 block of outputs from the
// 4 x 4 block of inputs under it with 16 multiplies per (input channel, output
// channel) instead of 36: V = B^T d B (input tile), U = G g G^T (weights),
// Y = A^T (U . V) A, and the 16 element-wise products, summed over input
// channels, are 16 GEMMs (Lavin & Gray 2015). With dilation (dh, dw) a tile is
// the outputs (y, y + dh) x (x, x + dw) read from the inputs 0, d, 2d, 3d
// away, so the tiles of the phase (y mod dh, x mod dw) are those of an
// undilated convolution: one code path for every dilation.
//
// Undilated, the input transform reads x itself: tile mx's inputs are
// columns 2 mx - pad + j, so an unzip of two vector loads gives inputs j = 0
// and 1 of a vector of tiles, two more loads j = 2 and 3, and masked loads
// make the padding (it replaced a polyphase copy of each band: 3 % faster on
// ResNet and ResNeXt). Dilated, each band of tile rows is copied once as the
// input's 2dh x 2dw polyphase planes (plane (ry, rx), row r, column c holds
// padded input (2dh r + ry, 2dw c + rx)): in them the 16 inputs of tile
// (my, mx) of every phase sit in four planes at (my, mx), (my, mx + 1),
// (my + 1, mx) and (my + 1, mx + 1), contiguous along mx. Tiles then go in
// chunks of 48 or 96: transform into V[Cin][16][tiles] (or [16][Cin]),
// multiply by the shared register block (the GEMM's K is Cin; its B rows are
// V's), transform M[Cout][16][tiles] into y (undilated, zipped; streamed
// through a band buffer for large outputs) or the output's polyphase planes,
// interleaved into y at the band's end. The transforms add up to 4 terms
// each way, but each GEMM sums only Cin products: the float32 error measured
// below the direct kernel's on the benchmark cases (tests/test_conv2d.py
// holds it to half the op's tolerance).

// Tiles per chunk: a multiple of 3 vectors (the register block's run) of
// either type, 96 where V and M of a chunk and the group's U fit 3/4 of a
// core's L2, 48 otherwise (ResNet's 64 -> 64 channels: 3-5 % faster than 96
// in the headline's interleaved rounds). A compile-time constant, so the 16
// values of a tile sit at constant offsets in V and M: the transforms
// address them as displacements from one pointer.
constexpr int64_t kWinogradChunkBytes = 768 << 10;

// U = G g G^T of every 3 x 3 filter, packed per register block
// (pack_block_weights' layout): per group and xi, the cout x cin matrix the
// GEMM multiplies V[xi] by. A register block at a time in parallel, its
// filters of one input channel side by side, so the transform vectorises
// across them (one filter at a time, out of line, it took ~6 % of the
// 14 x 14, 256-channel case).
template <typename T>
void pack_winograd_filters(const T* weight, int64_t groups, int64_t cout, int64_t cin, T* packed) {
  constexpr int kB = kBlockChannels;
  std::vector<std::pair<int64_t, int64_t>> blocks;  // (first output channel, channels) of each register block
  for (int64_t co = 0, mr; co < cout; co += mr) blocks.emplace_back(co, mr = block_channels(cout - co));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < groups * int64_t(blocks.size()); ++b) {
    const int64_t group = b / int64_t(blocks.size());
    const auto [co0, mr] = blocks[b % blocks.size()];
    for (int64_t ci = 0; ci < cin; ++ci) {
      T g[9][kB] = {}, half[4][3][kB], u[16][kB];
      for (int64_t m = 0; m < mr; ++m)
        for (int k = 0; k < 9; ++k) g[k][m] = weight[((group * cout + co0 + m) * cin + ci) * 9 + k];
      for (int j = 0; j < 3; ++j)  // G g
        for (int m = 0; m < kB; ++m) {
          const T g0 = g[j][m], g1 = g[3 + j][m], g2 = g[6 + j][m];
          half[0][j][m] = g0, half[1][j][m] = (g0 + g1 + g2) / 2;
          half[2][j][m] = (g0 - g1 + g2) / 2, half[3][j][m] = g2;
        }
      for (int i = 0; i < 4; ++i)  // (G g) G^T
        for (int m = 0; m < kB; ++m) {
          const T g0 = half[i][0][m], g1 = half[i][1][m], g2 = half[i][2][m];
          u[4 * i][m] = g0, u[4 * i + 1][m] = (g0 + g1 + g2) / 2;
          u[4 * i + 2][m] = (g0 - g1 + g2) / 2, u[4 * i + 3][m] = g2;
        }
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t m = 0; m < mr; ++m) packed[(group * 16 + xi) * cout * cin + co0 * cin + ci * mr + m] = u[xi][m];
    }
  }
}

// Input transform B^T d B of a vector of tiles (`lanes` of them) into
// out[xi * stride], xi = 4 i + j; input_row(i, d) loads inputs (i, 0..3).
template <typename T, typename InputRow>
inline void winograd_input(InputRow input_row, int64_t lanes, T* out, int64_t stride) {
  Simd<T> r[4][4];  // d B, row by row, in registers
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    Simd<T> d[4];
    input_row(i, d);
    r[i][0] = d[0] - d[2], r[i][1] = d[1] + d[2], r[i][2] = d[2] - d[1], r[i][3] = d[1] - d[3];
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // then B^T down the columns
    store_partial(out + j * stride, r[0][j] - r[2][j], lanes);
    store_partial(out + (4 + j) * stride, r[1][j] + r[2][j], lanes);
    store_partial(out + (8 + j) * stride, r[2][j] - r[1][j], lanes);
    store_partial(out + (12 + j) * stride, r[1][j] - r[3][j], lanes);
  }
}

// Output transform A^T M A + b of a vector of tiles, M[xi] at m[xi * stride]:
// out[e][f] is output (e, f) of each tile's 2 x 2 block. Loads whole vectors:
// the caller's M rows are padded past a short run.
template <typename T>
inline void winograd_output(const T* m, int64_t stride, T b, Simd<T> out[2][2]) {
  Simd<T> r[2][4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const Simd<T> m0 = load(m + j * stride), m1 = load(m + (4 + j) * stride);
    const Simd<T> m2 = load(m + (8 + j) * stride), m3 = load(m + (12 + j) * stride);
    r[0][j] = m0 + m1 + m2, r[1][j] = m1 - m2 - m3;
  }
  for (int e = 0; e < 2; ++e) {
    out[e][0] = r[e][0] + r[e][1] + r[e][2] + b;
    out[e][1] = r[e][1] - r[e][2] - r[e][3] + b;
  }
}

// Where V (per input channel) and M (per output channel) keep a chunk's
// tiles: row (xi, c) at xi * xi_stride + c * channel_stride. Channel-major,
// so a transform finds a channel's 16 rows at constant offsets, unless one
// xi's rows (the GEMM's B panel, or the rows it writes) outgrow half of L1:
// then xi-major, so the GEMM streams through contiguous rows (256
// channels' rows 3 KiB apart measured 10-20 % slower on the 14 x 14 case).
// Each block of rows padded by a cache line: at a multiple of 4 KiB the 16
// values of a tile would share one L1 set (transforms measured 3x slower),
// and a transform's past-the-run loads stay inside.
struct ChunkRows {
  bool xi_major;
  int64_t xi_stride, channel_stride, size;
};
template <typename T, int64_t kChunk>
ChunkRows chunk_rows(int64_t channels) {
  const int64_t pad = 64 / sizeof(T);
  if (channels * kChunk * int64_t(sizeof(T)) > (16 << 10))
    return {true, channels * kChunk + pad, kChunk, 16 * (channels * kChunk + pad)};
  return {false, kChunk, 16 * kChunk + pad, channels * (16 * kChunk + pad)};
}

// Winograd's 2 x 2 tiles per phase, down and across: each phase (y mod dh,
// x mod dw) covers outputs 2 d apart, so ceil(out / 2 d) tiles each way.
struct WinogradTiles {
  int64_t y, x;
  explicit WinogradTiles(const Conv2dGeometry& g)
      : y((g.out_h + 2 * g.dilation_h - 1) / (2 * g.dilation_h)),
        x((g.out_w + 2 * g.dilation_w - 1) / (2 * g.dilation_w)) {}
};

// Undilated, a vector of tiles' inputs straight from x: tiles mx .. mx +
// kLanes - 1 of tile row my read columns 2 mx - pad_w + j of rows 2 my -
// pad_h + i, so an unzip of two loads gives inputs (i, 0) and (i, 1), two
// more loads (i, 2) and (i, 3). Masked loads make the padding; rows in it
// read a zero row. `group` is x at the group's first channel.
template <typename T>
class TileInputs {
 public:
  TileInputs(const T* group, const Conv2dGeometry& g, const T* zero_row, int64_t my, int64_t mx)
      : pos_(2 * mx - g.pad_w) {
    for (int i = 0; i < 4; ++i) {
      const int64_t iy = 2 * my + i - g.pad_h;
      const bool inside = iy >= 0 && iy < g.height;
      row_[i] = inside ? group + iy * g.width : zero_row, step_[i] = inside ? g.height * g.width : 0;
    }
    for (int k = 0; k < 4; ++k) mask_[k] = lanes_inside<T>(pos_ + k / 2 * 2 + k % 2 * kLanes<T>, g.width);
  }
  // Inputs (i, 0..3) of channel ci.
  void operator()(int64_t ci, int i, Simd<T> d[4]) const {
    const T* row = row_[i] + ci * step_[i];
    unzip<T>(load_lanes(row, pos_, mask_[0]), load_lanes(row, pos_ + kLanes<T>, mask_[1]), d[0], d[1]);
    unzip<T>(load_lanes(row, pos_ + 2, mask_[2]), load_lanes(row, pos_ + 2 + kLanes<T>, mask_[3]), d[2], d[3]);
  }

 private:
  const T* row_[4];  // channel 0's rows; channel ci's at row_[i] + ci * step_[i]
  int64_t step_[4], pos_;
  uint32_t mask_[4];
};

// Undilated, a vector of tiles' 2 x 2 outputs out[e][f] into output rows
// `row` and row + row_len (both only where `both_rows`), zipped: `valid`
// columns from the first tile's.
template <typename T>
inline void store_tile_outputs(const Simd<T> out[2][2], T* row, int64_t row_len, int64_t valid, bool both_rows) {
  for (int e = 0; e < 1 + both_rows; ++e, row += row_len) {
    Simd<T> lo, hi;
    zip<T>(out[e][0], out[e][1], lo, hi);
    store_partial(row, lo, std::min(kLanes<T>, valid));
    if (valid > kLanes<T>) store_partial(row + kLanes<T>, hi, valid - kLanes<T>);
  }
}

template <typename T, int64_t kChunk>
void conv2d_winograd(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                     const T* weight, const T* bias, T* y) {
  const int64_t cin = g.channels / groups, cout = cout_per_group;
  const int64_t dh = g.dilation_h, dw = g.dilation_w, py = 2 * dh, px = 2 * dw;
  const WinogradTiles per_phase(g);
  const int64_t tiles_y = per_phase.y, tiles_x = per_phase.x;
  const int64_t copy_row = tiles_x + 1, image_size = g.channels * g.height * g.width;

  // Bands of tile rows whose input (copied if dilated, else read in place
  // and prefetched), output planes (dilated) and band buffer (streamed
  // outputs) fit the scratch budget.
  const bool dilated = dh > 1 || dw > 1;
  const bool stream_output = streams_output<T>(n, groups, cout, g);
  const int64_t row_bytes = ((cin * copy_row + (dilated ? cout * tiles_x : 0)) * px +
                             (stream_output ? cout * g.out_w : 0)) * py * int64_t(sizeof(T));
  const Tiling tiling = tile(n, groups, tiles_y, std::max<int64_t>(1, kScratchBudgetBytes / row_bytes - 1), 1);
  const int64_t band_tiles = tiling.band_rows * tiles_x;
  const int64_t copy_plane = (tiling.band_rows + 1) * copy_row, out_plane = band_tiles;

  // U[group][xi]: the GEMM's A; V's rows are its B.
  T* packed = thread_scratch<T, 10>(groups * 16 * cout * cin);
  pack_winograd_filters(weight, groups, cout, cin, packed);
  const ChunkRows v_rows = chunk_rows<T, kChunk>(cin), m_rows = chunk_rows<T, kChunk>(cout);
  int64_t* row_offset = thread_scratch<int64_t, 0>(cin);  // V's row ci within one xi
  for (int64_t ci = 0; ci < cin; ++ci) row_offset[ci] = ci * v_rows.channel_stride;
  // The transforms, with the xi stride a constant where it can be.
  const auto input_transform = [&](const auto& input_row, int64_t lanes, T* out) {
    if (v_rows.xi_major)
      winograd_input<T>(input_row, lanes, out, v_rows.xi_stride);
    else
      winograd_input<T>(input_row, lanes, out, kChunk);
  };
  const auto output_transform = [&](const T* m, T b, Simd<T> out[2][2]) {
    if (m_rows.xi_major)
      winograd_output<T>(m, m_rows.xi_stride, b, out);
    else
      winograd_output<T>(m, kChunk, b, out);
  };

  const std::vector<T> zeros(dilated ? 0 : g.width, T(0));  // an input row in the padding (undilated)
  const T* zero_row = zeros.data();
  ParallelErrors errors;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiling.tiles; ++t) errors.run([&] {
    const int64_t image = tiling.image(t, groups), group = tiling.group(t, groups);
    const int64_t my0 = tiling.first_row(t), rows = std::min(tiles_y, my0 + tiling.band_rows) - my0;
    const int64_t plane = (rows + 1) * copy_row;  // this band's copy planes
    T* copy = dilated ? thread_scratch<T, 0>(cin * py * px * copy_plane) : nullptr;
    T* v = thread_scratch<T, 7>(v_rows.size);
    T* m = thread_scratch<T, 8>(m_rows.size);
    T* planes = dilated ? thread_scratch<T, 9>(cout * py * px * out_plane) : nullptr;
    // Streamed outputs are first assembled as whole rows of the band (each
    // channel's a contiguous run of y) and then streamed out per channel,
    // since streaming stores want whole 64-byte lines.
    const int64_t y0 = my0 * py, y1 = std::min(g.out_h, (my0 + rows) * py), run = (y1 - y0) * g.out_w;
    T* y_group = y + (image * groups + group) * cout * g.out_h * g.out_w;
    T* band = stream_output ? thread_scratch<T, 11>(cout * tiling.band_rows * py * g.out_w) : nullptr;
    const auto out_row = [&](int64_t co, int64_t yy) {  // where channel co's output row yy goes
      return stream_output ? band + co * run + (yy - y0) * g.out_w : y_group + (co * g.out_h + yy) * g.out_w;
    };
    if (dilated) polyphase_copy(x + image * image_size, g, group * cin, cin, py, px, my0, rows + 1, copy_row, copy);
    const T* x_group = x + image * image_size + group * cin * g.height * g.width;
    const T* group_u = packed + group * 16 * cout * cin;
    const int64_t tiles = rows * tiles_x;

    // The next tile's input rows, prefetched a share per chunk (see TilePrefetch).
    TilePrefetch<T> next = next_tile_input(x, g, tiling, t, groups, cin, py, (tiling.band_rows + 1) * py);
    const int64_t all_tiles = dh * dw * tiles;
    const int64_t lines_per_chunk = (next.lines() * kChunk + all_tiles - 1) / all_tiles;

    // Chunks run through the tiles of every phase in turn (tile u is tile
    // u % tiles of phase u / tiles), so only a band's last chunk is short.
    for (int64_t u0 = 0; u0 < all_tiles; u0 += kChunk) {
      const int64_t count = std::min(kChunk, all_tiles - u0);
      next.prefetch(lines_per_chunk);
      // Input transform, a run of tiles along one tile row of one phase at a time, every channel.
      for (int64_t done = 0, seg; done < count; done += seg) {
        const int64_t phase = (u0 + done) / tiles, in_phase = (u0 + done) % tiles;
        const int64_t sy = phase / dw, sx = phase % dw, my = in_phase / tiles_x, mx0 = in_phase % tiles_x;
        seg = std::min(tiles_x - mx0, count - done);
        if (!dilated) {  // straight from x
          for (int64_t s = 0; s < seg; s += kLanes<T>) {
            const TileInputs<T> inputs(x_group, g, zero_row, my0 + my, mx0 + s);
            const int64_t lanes = std::min(kLanes<T>, seg - s);
            for (int64_t ci = 0; ci < cin; ++ci)
              input_transform([&](int i, Simd<T> d[4]) { inputs(ci, i, d); }, lanes,
                              v + ci * v_rows.channel_stride + done + s);
          }
          continue;
        }
        // Dilated, from the copy: input (i, j) of the run's tiles sits in plane
        // (sy + (i % 2) dh, sx + (j % 2) dw) at row my + i / 2, column mx0 + j / 2.
        int64_t offset[2][2];
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) offset[a][b] = ((sy + a * dh) * px + sx + b * dw) * plane + my * copy_row + mx0;
        for (int64_t ci = 0; ci < cin; ++ci) {
          const T* channel = copy + ci * py * px * plane;
          for (int64_t s = 0; s < seg; s += kLanes<T>) {
            const int64_t lanes = std::min(kLanes<T>, seg - s);
            input_transform(
                [&](int i, Simd<T> d[4]) {
                  const T* even = channel + offset[i % 2][0] + i / 2 * copy_row + s;
                  const T* odd = channel + offset[i % 2][1] + i / 2 * copy_row + s;
                  d[0] = load_partial(even, lanes), d[1] = load_partial(odd, lanes);
                  d[2] = load_partial(even + 1, lanes), d[3] = load_partial(odd + 1, lanes);
                },
                lanes, v + ci * v_rows.channel_stride + done + s);
          }
        }
      }
      // M[xi] = U[xi] V[xi]: 16 GEMMs through the register block, on whole
      // vectors of tiles (a short chunk's last vector reads V's stale tail,
      // earlier chunks' values: its columns of M are never read).
      const int64_t vectors = (count + kLanes<T> - 1) / kLanes<T>;
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t q = 0, nv; q < vectors; q += nv) {
          nv = std::min<int64_t>(3, vectors - q);
          for (int64_t co = 0, mr; co < cout; co += mr) {
            mr = block_channels(cout - co);
            const T* a = group_u + xi * cout * cin + co * cin;
            const T* b = v + xi * v_rows.xi_stride + q * kLanes<T>;
            T* c = m + co * m_rows.channel_stride + xi * m_rows.xi_stride + q * kLanes<T>;
            if (nv == 3)
              run_block<T, 3>(mr, b, row_offset, cin, a, c, m_rows.channel_stride);
            else if (nv == 2)
              run_block<T, 2>(mr, b, row_offset, cin, a, c, m_rows.channel_stride);
            else
              run_block<T, 1>(mr, b, row_offset, cin, a, c, m_rows.channel_stride);
          }
        }
      // Output transform, into y or the output planes.
      if (!dilated) {
        // Undilated: tile (my, mx) is y's 2 x 2 block at (2 my, 2 mx), so each
        // run along a tile row goes straight to two rows of y, zipped.
        for (int64_t done = 0, seg; done < count; done += seg) {
          const int64_t my = my0 + (u0 + done) / tiles_x, mx0 = (u0 + done) % tiles_x;
          seg = std::min(tiles_x - mx0, count - done);
          for (int64_t co = 0; co < cout; ++co) {
            const T b = bias ? bias[group * cout + co] : T(0);
            T* yc = out_row(co, 2 * my) + 2 * mx0;
            for (int64_t s = 0; s < seg; s += kLanes<T>) {
              Simd<T> out[2][2];
              output_transform(m + co * m_rows.channel_stride + done + s, b, out);
              const int64_t valid = std::min(2 * std::min(kLanes<T>, seg - s), g.out_w - 2 * (mx0 + s));
              store_tile_outputs<T>(out, yc + 2 * s, g.out_w, valid, 2 * my + 1 < g.out_h);
            }
          }
        }
      } else {
        // Dilated: into the output's polyphase planes, a phase's run at a time.
        for (int64_t done = 0, seg; done < count; done += seg) {
          const int64_t phase = (u0 + done) / tiles, in_phase = (u0 + done) % tiles;
          const int64_t sy = phase / dw, sx = phase % dw;
          seg = std::min(tiles - in_phase, count - done);
          for (int64_t co = 0; co < cout; ++co) {
            const T b = bias ? bias[group * cout + co] : T(0);
            T* at[2][2];
            for (int e = 0; e < 2; ++e)
              for (int f = 0; f < 2; ++f)
                at[e][f] = planes + ((co * py + sy + e * dh) * px + sx + f * dw) * out_plane + in_phase;
            for (int64_t s = 0; s < seg; s += kLanes<T>) {
              Simd<T> out[2][2];
              output_transform(m + co * m_rows.channel_stride + done + s, b, out);
              const int64_t lanes = std::min(kLanes<T>, seg - s);
              for (int e = 0; e < 2; ++e)
                for (int f = 0; f < 2; ++f) store_partial(at[e][f] + s, out[e][f], lanes);
            }
          }
        }
      }
    }

    // Dilated: polyphase planes -> rows of the output.
    if (dilated) {
      const int64_t whole = g.out_w / px;  // tiles whose px outputs all lie in the row
      for (int64_t co = 0; co < cout; ++co)
        for (int64_t yy = y0; yy < y1; ++yy) {
          const T* src = planes + (co * py + yy % py) * px * out_plane + (yy / py - my0) * tiles_x;
          T* row = out_row(co, yy);
          merge_phases(src, out_plane, px, whole, row);
          for (int64_t xx = whole * px; xx < g.out_w; ++xx) row[xx] = src[xx % px * out_plane + xx / px];
        }
    }
    if (stream_output) {
      for (int64_t co = 0; co < cout; ++co)
        stream_copy(y_group + co * g.out_h * g.out_w + y0 * g.out_w, band + co * run, run);
      stream_fence();  // streaming stores are weakly ordered: publish before the barrier
    }
  });
  errors.rethrow();
}

// -- Winograd for few channels per group ------------------------------------
//
// With 8 input channels per group (ResNeXt) each of the 16 GEMMs above sums
// only 8 products, and moving V and M through memory costs more than the
// products: the chunked schedule lost to the direct kernel by 1.5x. Here,
// per vector of 16 tiles of one tile row, V of the group's channels goes to
// an L1 buffer ([16][Cin] vectors), then for 4 output channels at a time the
// 16 sums over input channels and the output transform run in registers
// (16 accumulators: A^T M A adds each M into up to four outputs), so M
// never leaves them. The input transform is shared by all output channels.
// 8 x 256 x 56 x 56, 32 groups (2 threads): 1.4x faster than the direct
// kernel; 1.1x at 4 channels per group, 1.5x at 16, and slower at 32, where
// the chunked schedule takes over (kWinogradSmallChannels).

// out[c][e][f] = sum over xi = 4 i + j of A[i][e] A[j][f] M[c][xi], where
// M[c][xi] = sum over ci of U[xi][c][ci] V[xi][ci], for kMR output channels
// and one vector of tiles. v: V as [16][cin] vectors; U[xi][c][ci] at
// u[xi * u_xi + ci * u_ci + c].
template <typename T, int kMR>
inline void winograd_small_block(const T* v, int64_t cin, const T* u, int64_t u_xi, int64_t u_ci,
                                 Simd<T> out[kMR][2][2]) {
  constexpr int kA[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};  // F(2, 3)'s A
  for (int c = 0; c < kMR; ++c)
    for (int e = 0; e < 2; ++e) out[c][e][0] = out[c][e][1] = Simd<T>{};
#pragma GCC unroll 16
  for (int xi = 0; xi < 16; ++xi) {  // unrolled: the signs below are constants
    Simd<T> m[kMR] = {};
    const T* w = u + xi * u_xi;
    for (int64_t ci = 0; ci < cin; ++ci) {
      const Simd<T> vv = load(v + (xi * cin + ci) * kLanes<T>);
#pragma GCC unroll 8
      for (int c = 0; c < kMR; ++c) m[c] += w[ci * u_ci + c] * vv;
    }
#pragma GCC unroll 8
    for (int c = 0; c < kMR; ++c)
      for (int e = 0; e < 2; ++e)
        for (int f = 0; f < 2; ++f) {
          const int sign = kA[xi / 4][e] * kA[xi % 4][f];
          if (sign > 0) out[c][e][f] += m[c];
          if (sign < 0) out[c][e][f] -= m[c];
        }
  }
}

template <typename T>
void conv2d_winograd_small(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                           const T* weight, const T* bias, T* y) {
  constexpr int64_t L = kLanes<T>;
  constexpr int kMR = 4;  // output channels in registers: 16 accumulators, 4 sums and V
  const int64_t cin = g.channels / groups, cout = cout_per_group;
  const WinogradTiles tiles(g);
  const int64_t image_size = g.channels * g.height * g.width;
  const bool stream_output = streams_output<T>(n, groups, cout, g);
  // Nothing is kept per band: whole images' groups, split only to share them between threads.
  const Tiling tiling = tile(n, groups, tiles.y, tiles.y, 1);
  T* packed = thread_scratch<T, 10>(groups * 16 * cout * cin);  // U, as the chunked schedule packs it
  pack_winograd_filters(weight, groups, cout, cin, packed);
  const std::vector<T> zeros(g.width, T(0));
  ParallelErrors errors;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiling.tiles; ++t) errors.run([&] {
    const int64_t image = tiling.image(t, groups), group = tiling.group(t, groups);
    const int64_t my0 = tiling.first_row(t), my1 = std::min(tiles.y, my0 + tiling.band_rows);
    const T* x_group = x + image * image_size + group * cin * g.height * g.width;
    const T* group_u = packed + group * 16 * cout * cin;
    T* y_group = y + (image * groups + group) * cout * g.out_h * g.out_w;
    T* v = thread_scratch<T, 7>(16 * cin * L);
    // Streamed outputs: a tile row's two output rows per channel, then
    // streamed out as one run (streaming stores want whole 64-byte lines).
    // Row by row rather than the whole band at its end: 3 % faster with the
    // input not in cache, the same with it.
    T* rows = stream_output ? thread_scratch<T, 11>(cout * 2 * g.out_w) : nullptr;
    TilePrefetch<T> next = next_tile_input(x, g, tiling, t, groups, cin, 2, (tiling.band_rows + 1) * 2);
    const int64_t vectors = (my1 - my0) * ((tiles.x + L - 1) / L);
    const int64_t lines_per_vector = (next.lines() + vectors - 1) / vectors;
    for (int64_t my = my0; my < my1; ++my) {
      const auto out_row = [&](int64_t co) {  // where channel co's output row 2 my goes
        return stream_output ? rows + co * 2 * g.out_w : y_group + (co * g.out_h + 2 * my) * g.out_w;
      };
      const bool both_rows = 2 * my + 1 < g.out_h;
      for (int64_t mx = 0; mx < tiles.x; mx += L) {
        next.prefetch(lines_per_vector);
        const TileInputs<T> inputs(x_group, g, zeros.data(), my, mx);
        for (int64_t ci = 0; ci < cin; ++ci)
          winograd_input<T>([&](int i, Simd<T> d[4]) { inputs(ci, i, d); }, L, v + ci * L, cin * L);
        const int64_t valid = std::min(2 * std::min(L, tiles.x - mx), g.out_w - 2 * mx);
        // Register blocks of the packing (8, 4, 2 or 1 channels), 4 at a time.
        for (int64_t co0 = 0, mr; co0 < cout; co0 += mr) {
          mr = block_channels(cout - co0);
          for (int64_t h = 0; h < mr; h += kMR) {
            Simd<T> out[kMR][2][2];
            winograd_small_block<T, kMR>(v, cin, group_u + co0 * cin + h, cout * cin, mr, out);
            for (int64_t c = 0; c < std::min<int64_t>(kMR, mr - h); ++c) {
              const T b = bias ? bias[group * cout + co0 + h + c] : T(0);
              for (int e = 0; e < 2; ++e) out[c][e][0] += b, out[c][e][1] += b;
              store_tile_outputs<T>(out[c], out_row(co0 + h + c) + 2 * mx, g.out_w, valid, both_rows);
            }
          }
        }
      }
      if (stream_output)
        for (int64_t co = 0; co < cout; ++co)
          stream_copy(y_group + (co * g.out_h + 2 * my) * g.out_w, out_row(co), (1 + both_rows) * g.out_w);
    }
    if (stream_output) stream_fence();  // streaming stores are weakly ordered: publish before the barrier
  });
  errors.rethrow();
}

template <typename T>
void conv2d_winograd(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                     const T* weight, const T* bias, T* y) {
  const int64_t cin = g.channels / groups, cout = cout_per_group;
  if (g.dilation_h == 1 && g.dilation_w == 1 && cin <= kWinogradSmallChannels)
    return conv2d_winograd_small(x, n, g, groups, cout_per_group, weight, bias, y);
  if (16 * ((cin + cout) * 96 + cin * cout) * int64_t(sizeof(T)) <= kWinogradChunkBytes)
    conv2d_winograd<T, 96>(x, n, g, groups, cout_per_group, weight, bias, y);
  else
    conv2d_winograd<T, 48>(x, n, g, groups, cout_per_group, weight, bias, y);
}

}  // namespace

template <typename T>
void im2col_cpu(const T* image, const Conv2dGeometry& g, int64_t c0, int64_t channels, int64_t out_y0,
                int64_t out_y1, T* col) {
  switch (g.stride_w) {
    case 1: im2col_rows<T, 1>(image, g, c0, channels, out_y0, out_y1, col); break;
    case 2: im2col_rows<T, 2>(image, g, c0, channels, out_y0, out_y1, col); break;
    default: im2col_rows<T, 0>(image, g, c0, channels, out_y0, out_y1, col);
  }
}

template <typename T>
void conv2d_cpu_launch(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                       const T* weight, const T* bias, Conv2dAlgorithm algorithm, T* y) {
  if (algorithm == Conv2dAlgorithm::kDirect)
    conv2d_direct(x, n, g, groups, cout_per_group, weight, bias, y);
  else if (algorithm == Conv2dAlgorithm::kWinograd)
    conv2d_winograd(x, n, g, groups, cout_per_group, weight, bias, y);
  else
    conv2d_im2col_gemm(x, n, g, groups, cout_per_group, weight, bias, y);
}

double conv2d_cpu_work(const Conv2dGeometry& g, int64_t n, int64_t groups, int64_t cout_per_group, bool bias,
                       Conv2dAlgorithm algorithm) {
  const double cin = double(g.channels / groups), outputs = double(n) * double(groups * cout_per_group);
  const double bias_flops = bias ? outputs * double(g.out_h * g.out_w) : 0.0;
  if (algorithm != Conv2dAlgorithm::kWinograd)
    return 2.0 * outputs * double(g.out_h * g.out_w) * cin * double(g.kernel_h * g.kernel_w) + bias_flops;
  // Per tile: the 16 sums' multiply-adds for each (input, output) channel
  // pair, and the transforms' additions, counted as B^T d B's 32 per input
  // channel and A^T M A's 24 per output channel (the chunked schedule's
  // counts; the small-group one spends 36 there, folding A^T M A into its
  // sums, and is not credited the difference).
  const WinogradTiles tiles(g);
  const double all_tiles = double(g.dilation_h * g.dilation_w) * double(tiles.y) * double(tiles.x);
  const double inputs = double(n) * double(g.channels);
  return (2.0 * 16.0 * outputs * cin + 32.0 * inputs + 24.0 * outputs) * all_tiles + bias_flops;
}

#define KA_INSTANTIATE(T)                                                                                     \
  template void im2col_cpu<T>(const T*, const Conv2dGeometry&, int64_t, int64_t, int64_t, int64_t, T*);       \
  template void conv2d_cpu_launch<T>(const T*, int64_t, const Conv2dGeometry&, int64_t, int64_t, const T*,   \
                                     const T*, Conv2dAlgorithm, T*);
KA_INSTANTIATE(float)
KA_INSTANTIATE(double)
#undef KA_INSTANTIATE

}  // namespace kernel_arena
