// causal_conv1d on the CPU: a direct convolution, tile by tile. A tile is one
// sample and a band of output times; each OpenMP thread takes whole tiles.
//
// The tile's input is copied once into a per-thread buffer (with the causal
// zeros in place), in which every tap (i, j) of every output time is one
// contiguous, shifted window: the convolution is then a GEMM whose B operand
// is read straight from the copy, and the register-blocked kernel of
// cpu/direct_block.h (8 output channels x 32 or 48 consecutive times, summed
// over all Cin * k taps in registers) computes the band into a second buffer,
// from which it goes to y with the bias added. Two copy layouts:
//  - per channel, when the dilation is at most the band: row i holds x[i] from
//    t0 - (k-1) * dilation to the band's end, and tap j is that row shifted by
//    j * dilation (the copy is 1 + (k-1) * dilation / band times the input);
//  - per (channel, tap), for longer dilations: row (i, j) holds tap j's window
//    alone (k times the input, however long the dilation).
// No k-fold column buffer, no padded input in memory, and only the tiles at
// the start of the sequence (or its end) go through the bounds test.
//
// Measured on wavenet-d64 (4 x 64 -> 128 channels, k = 2, L = 16 000) against
// the alternatives, on 2 threads: see causal_conv1d.cpp.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ops/causal_conv1d.h"
#include "ops/cpu/direct_block.h"

namespace kernel_arena {

namespace {

using namespace cpu;

// Scratch per thread (the input copy plus the output band): with the weights
// it reads, it stays inside the 1 MiB L2 of a Zen 4 core.
constexpr int64_t kScratchBudgetBytes = 1 << 20;
// Bands shorter than this waste time on per-tile set-up; a band is never
// shorter unless the sequence is.
constexpr int64_t kMinBand = 256;
// Outputs at least this large go to memory with streaming stores (a quarter
// of the 32 MiB L3: they would be evicted before anyone reads them anyway).
constexpr int64_t kStreamOutputBytes = int64_t(8) << 20;
// Tiles per thread to aim for, so the last tiles do not leave a core idle.
constexpr int64_t kTilesPerThread = 4;

struct Plan {
  int64_t band, bands;            // output times per tile, tiles per sample
  int64_t block_vectors, block_q;  // SIMD vectors (and times) per register block
  int64_t band_pad;               // band rounded up to whole blocks: the out buffer's row length
  bool per_tap;                   // copy rows per (channel, tap) rather than per channel
  int64_t copy_rows, row_len;     // the copy: copy_rows x row_len
};

template <typename T>
Plan plan(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation) {
  const int64_t threads = omp_get_max_threads();
  const int64_t budget = kScratchBudgetBytes / int64_t(sizeof(T));
  const int64_t reach = (k - 1) * dilation;  // < 2^62, checked by the caller
  Plan p{};
  // Per channel while the shifted rows overlap enough to beat k separate windows.
  int64_t band = std::max(kMinBand, budget / (cin + cout));
  p.per_tap = k > 1 && dilation > band;
  if (p.per_tap) band = std::max(kMinBand, budget / (cin * k + cout));
  band = std::min(band, length);
  // Split further until every thread has a few tiles, down to the minimum band.
  int64_t bands = (length + band - 1) / band;
  while (n * bands < kTilesPerThread * threads && (length + bands) / (bands + 1) >= kMinBand) ++bands;
  p.band = (length + bands - 1) / bands;
  p.bands = (length + p.band - 1) / p.band;
  // Vectors per block: whichever pads the band less (ties: 3, fewer loads per FMA).
  const auto padded = [&](int64_t vectors) {
    const int64_t block = vectors * kLanes<T>;
    return (p.band + block - 1) / block * block;
  };
  p.block_vectors = padded(2) < padded(3) ? 2 : 3;
  p.block_q = p.block_vectors * kLanes<T>;
  p.band_pad = padded(p.block_vectors);
  p.copy_rows = p.per_tap ? cin * k : cin;
  p.row_len = p.band_pad + (p.per_tap ? 0 : reach);
  return p;
}

// copy[0:count] = row[source0 : source0 + count], zeros outside [0, length).
template <typename T>
void copy_window(const T* row, int64_t length, int64_t source0, int64_t count, T* copy) {
  if (source0 >= 0 && source0 + count <= length) {
    std::memcpy(copy, row + source0, count * sizeof(T));
    return;
  }
#pragma omp simd
  for (int64_t c = 0; c < count; ++c) copy[c] = causal_input(row, length, source0 + c);
}

}  // namespace

template <typename T>
void causal_conv1d_cpu_launch(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout,
                              int64_t k, int64_t length, int64_t dilation, T* y) {
  if (n == 0 || length == 0) return;
  const Plan p = plan<T>(n, cin, cout, k, length, dilation);
  const int64_t taps = cin * k;

  // Tap (i, j) of output q of the band reads the copy at q + tap_offset[i * k + j].
  int64_t* tap_offset = thread_scratch<int64_t, 0>(taps);
  for (int64_t i = 0; i < cin; ++i)
    for (int64_t j = 0; j < k; ++j)
      tap_offset[i * k + j] = p.per_tap ? (i * k + j) * p.row_len : i * p.row_len + j * dilation;
  // weight (cout, cin, k) is (cout, taps) in the same tap order.
  T* packed = thread_scratch<T, 2>(cout * taps);
  pack_block_weights(weight, cout, taps, packed);
  const bool stream_output = n * cout * length * int64_t(sizeof(T)) >= kStreamOutputBytes;
  const int64_t tiles = n * p.bands;

#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const int64_t sample = tile / p.bands;
    const int64_t t0 = tile % p.bands * p.band, width = std::min(length, t0 + p.band) - t0;
    const int64_t q_end = (width + p.block_q - 1) / p.block_q * p.block_q;
    T* copy = thread_scratch<T, 0>(p.copy_rows * p.row_len);
    T* out = thread_scratch<T, 1>(cout * p.band_pad);
    const T* x_sample = x + sample * cin * length;
    for (int64_t r = 0; r < p.copy_rows; ++r) {
      // Row r starts at the input time that output t0 reads through its first tap.
      const int64_t i = p.per_tap ? r / k : r, tap = p.per_tap ? r % k : 0;
      const int64_t used = q_end + (p.row_len - p.band_pad);
      copy_window(x_sample + i * length, length, causal_tap_source(t0, tap, k, dilation), used,
                  copy + r * p.row_len);
    }
    for (int64_t q = 0; q < q_end; q += p.block_q)
      for (int64_t co = 0, mr; co < cout; co += mr) {
        mr = block_channels(cout - co);
        T* block_out = out + co * p.band_pad + q;
        if (p.block_vectors == 2)
          run_block<T, 2>(mr, copy + q, tap_offset, taps, packed + co * taps, block_out, p.band_pad);
        else
          run_block<T, 3>(mr, copy + q, tap_offset, taps, packed + co * taps, block_out, p.band_pad);
      }
    for (int64_t co = 0; co < cout; ++co) {
      const T b = bias ? bias[co] : T(0);
      T* src = out + co * p.band_pad;
      T* dst = y + (sample * cout + co) * length + t0;
      if (stream_output) {
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) src[c] += b;
        stream_copy(dst, src, width);
      } else {
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) dst[c] = src[c] + b;
      }
    }
    if (stream_output) stream_fence();  // streaming stores are weakly ordered: publish before the barrier
  }
}

template void causal_conv1d_cpu_launch<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                              int64_t, int64_t, int64_t, float*);
template void causal_conv1d_cpu_launch<double>(const double*, const double*, const double*, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace kernel_arena
