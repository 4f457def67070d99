// causal_conv1d on the CPU: a direct convolution, tile by tile. A tile is one
// sample and a band of output times; each OpenMP thread takes whole tiles.
//
// The tile's input is copied once into a per-thread buffer (with the causal
// zeros in place), in which every tap of every output time is one contiguous,
// shifted window: the convolution is then a GEMM whose B operand is read
// straight from the copy, and the register-blocked kernel of
// cpu/direct_block.h (8 output channels x 48 consecutive times in float32,
// summed over all taps in registers) computes the band into a second buffer,
// from which it goes to y with the bias added. No k-fold column buffer, no
// padded input in memory, and only the tiles at the ends of the sequence go
// through the bounds test. Two ways to cut the taps (below): kDirect, every
// output from its k taps, and kPaired, pairs of outputs (t, t + d) from
// Winograd's F(2, 2) minimal filtering, a quarter fewer multiply-adds for
// k = 2. The launcher takes kPaired wherever it applies.
//
// Measured on wavenet-d64 (4 x 64 -> 128 channels, k = 2, L = 16 000), the
// kernel alone on one thread into an output already touched: kDirect 23.1 ms
// (its register block at ~115 GFLOP/s, one core's FMA peak), kPaired
// 21.6-22 ms: its GEMMs take a quarter less, but the input copy (3 rows per
// channel instead of 1) and the store of the sums take more, and reading x
// and writing y (48 MB) cost the same ~5 ms in both. On two threads, with
// both cores free: 11.6 ms against 9.4-10 ms.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ops/causal_conv1d.h"
#include "ops/cpu/direct_block.h"

namespace kernel_arena {

namespace {

using namespace cpu;

// Bands shorter than this waste time on per-tile set-up; a band is never
// shorter unless the sequence is.
constexpr int64_t kMinBand = 256;
// Tiles per thread to aim for, so the last tiles do not leave a core idle.
constexpr int64_t kTilesPerThread = 4;
// SIMD vectors of consecutive times per register block: 8 x 3 accumulators,
// 3 loads and 8 broadcasts per 24 FMAs (2 vectors: 8 broadcasts per 16). The
// bands are whole blocks, so only a sequence's last block is partly wasted.
constexpr int kBlockVectors = 3;

template <typename T>
constexpr int64_t kBlockQ = kBlockVectors * kLanes<T>;

// `count` output columns of each of n samples in bands of whole register
// blocks: at most max_band (the scratch budget), split further until every
// thread has a few tiles, but not below kMinBand.
struct Bands {
  int64_t band, bands, band_pad;  // columns per band, bands per sample, columns rounded to whole blocks
};

template <typename T>
Bands split_bands(int64_t n, int64_t count, int64_t max_band) {
  const int64_t threads = omp_get_max_threads();
  int64_t bands = (count + max_band - 1) / std::max<int64_t>(1, max_band);
  while (n * bands < kTilesPerThread * threads && count / (bands + 1) >= kMinBand) ++bands;
  int64_t band = (count + bands - 1) / bands;
  band = (band + kBlockQ<T> - 1) / kBlockQ<T> * kBlockQ<T>;
  return {band, (count + band - 1) / band, band};
}

// out (cout, band_pad) = the register blocks over q in [0, q_end), summing
// `taps` windows of the copy (see direct_block).
template <typename T>
void gemm_band(const T* copy, const int64_t* tap_offset, int64_t taps, const T* packed, int64_t cout,
               int64_t q_end, T* out, int64_t band_pad) {
  for (int64_t q = 0; q < q_end; q += kBlockQ<T>)
    for (int64_t co = 0, mr; co < cout; co += mr) {
      mr = block_channels(cout - co);
      run_block<T, kBlockVectors>(mr, copy + q, tap_offset, taps, packed + co * taps, out + co * band_pad + q,
                                  band_pad);
    }
}

// -- kDirect: every output from its k taps --------------------------------------
//
// Two copy layouts:
//  - per channel, when the dilation is at most the band: row i holds x[i] from
//    t0 - (k-1) * dilation to the band's end, and tap j is that row shifted by
//    j * dilation (the copy is 1 + (k-1) * dilation / band times the input);
//  - per (channel, tap), for longer dilations: row (i, j) holds tap j's window
//    alone (k times the input, however long the dilation).

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

template <typename T>
void conv_direct(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout, int64_t k,
                 int64_t length, int64_t dilation, T* y) {
  const int64_t budget = kScratchBudgetBytes / int64_t(sizeof(T));
  const int64_t reach = (k - 1) * dilation;  // < 2^62, checked by the caller
  // Per channel while the shifted rows overlap enough to beat k separate windows.
  int64_t max_band = std::max(kMinBand, budget / (cin + cout));
  const bool per_tap = k > 1 && dilation > max_band;
  if (per_tap) max_band = std::max(kMinBand, budget / (cin * k + cout));
  const Bands b = split_bands<T>(n, length, max_band);
  const int64_t copy_rows = per_tap ? cin * k : cin, row_len = b.band_pad + (per_tap ? 0 : reach);
  const int64_t taps = cin * k;

  // Tap (i, j) of output q of the band reads the copy at q + tap_offset[i * k + j].
  int64_t* tap_offset = thread_scratch<int64_t, 0>(taps);
  for (int64_t i = 0; i < cin; ++i)
    for (int64_t j = 0; j < k; ++j)
      tap_offset[i * k + j] = per_tap ? (i * k + j) * row_len : i * row_len + j * dilation;
  // weight (cout, cin, k) is (cout, taps) in the same tap order.
  T* packed = thread_scratch<T, 2>(cout * taps);
  pack_block_weights(weight, cout, taps, packed);
  const bool stream_output = n * cout * length * int64_t(sizeof(T)) >= kStreamOutputBytes;

#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < n * b.bands; ++tile) {
    const int64_t sample = tile / b.bands;
    const int64_t t0 = tile % b.bands * b.band, width = std::min(length, t0 + b.band) - t0;
    const int64_t q_end = (width + kBlockQ<T> - 1) / kBlockQ<T> * kBlockQ<T>;
    T* copy = thread_scratch<T, 0>(copy_rows * row_len);
    T* out = thread_scratch<T, 1>(cout * b.band_pad);
    const T* x_sample = x + sample * cin * length;
    for (int64_t r = 0; r < copy_rows; ++r) {
      // Row r starts at the input time that output t0 reads through its first tap.
      const int64_t i = per_tap ? r / k : r, tap = per_tap ? r % k : 0;
      copy_window(x_sample + i * length, length, causal_tap_source(t0, tap, k, dilation),
                  q_end + (row_len - b.band_pad), copy + r * row_len);
    }
    gemm_band(copy, tap_offset, taps, packed, cout, q_end, out, b.band_pad);
    for (int64_t co = 0; co < cout; ++co)
      store_sum(y + (sample * cout + co) * length + t0, out + co * b.band_pad, static_cast<const T*>(nullptr),
                bias ? bias[co] : T(0), width, stream_output);
    if (stream_output) stream_fence();  // streaming stores are weakly ordered: publish before the barrier
  }
}

// -- kPaired: outputs in pairs, Winograd's minimal filtering F(2, 2) per tap pair
//
// Outputs t and t + d read the inputs x_m = x[t + (m - (k-1)) d], m = 0..k:
// y[t] = sum_j G_j x_j and y[t + d] = sum_j G_j x_{j+1} (G_j = weight[:, :, j]).
// For a pair of taps (j, j + 1) the four products take three:
//   m_a = G_j (x_j - x_{j+1}),  m_2 = (G_j + G_{j+1}) x_{j+1},  m_b = G_{j+1} (x_{j+2} - x_{j+1}),
//   y[t] gets m_a + m_2, y[t + d] gets m_2 + m_b;
// a last, unpaired tap (k odd) gives G_{k-1} x_{k-1} to y[t] and G_{k-1} x_k to
// y[t + d]. So each output pair costs k + ceil(k/2) (Cout x Cin) products
// instead of 2k: 3/4 of the multiply-adds for k = 2, 5/6 for k = 3. (The
// differences and the summed weights add one rounding to each product term;
// with O(1) inputs that stays well inside the float32 tolerance.)
//
// The pairs are the times t with floor(t / d) even, numbered a = 0, 1, ...:
// t(a) = 2d floor(a / d) + a mod d, runs of d consecutive times. Per tile
// (sample, band of a) the three sums are three GEMMs of the register block
// over a transformed copy of the input (3 rows per channel and tap pair, 2 for
// the unpaired tap), and the store adds them up.

// The number of pairs: times t < length with floor(t / d) even.
inline int64_t pair_count(int64_t length, int64_t dilation) {
  return length / (2 * dilation) * dilation + std::min(length % (2 * dilation), dilation);
}

// Worth it when runs of d times fill SIMD vectors and the pairs cover the
// sequence: a pair whose second time lies past the end costs its three
// products all the same, so the saving shrinks as d approaches the length.
template <typename T>
bool pairs_pay(int64_t k, int64_t length, int64_t dilation) {
  return k >= 2 && dilation >= kLanes<T> && dilation <= length / 8;
}

template <typename T>
void conv_paired(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout, int64_t k,
                 int64_t length, int64_t dilation, T* y) {
  const int64_t d = dilation, pairs = pair_count(length, d);
  const int64_t tap_pairs = k / 2, lone = k % 2;
  const int64_t rows_per_channel = 3 * tap_pairs + 2 * lone;
  // The three GEMMs: into y[t] only (a), into both (2), into y[t + d] only (b).
  const int64_t taps_a = cin * (tap_pairs + lone), taps_2 = cin * tap_pairs, taps_b = taps_a;
  const int64_t budget = kScratchBudgetBytes / int64_t(sizeof(T));
  const Bands b = split_bands<T>(n, pairs, std::max(kMinBand, budget / (cin * rows_per_channel + 3 * cout)));
  const int64_t band_pad = b.band_pad;

  // Copy row r of channel i at (i * rows_per_channel + r) * band_pad: per tap
  // pair p rows 3p (x_2p - x_2p+1), 3p + 1 (x_2p+1), 3p + 2 (x_2p+2 - x_2p+1);
  // the unpaired tap's rows 3 tap_pairs (x_k-1) and 3 tap_pairs + 1 (x_k).
  int64_t* offset_a = thread_scratch<int64_t, 0>(taps_a + taps_2 + taps_b);
  int64_t* offset_2 = offset_a + taps_a;
  int64_t* offset_b = offset_2 + taps_2;
  // The three weight matrices (cout, taps) in the same tap order, then packed
  // per register block.
  T* w_a = thread_scratch<T, 2>(2 * cout * (taps_a + taps_2 + taps_b));
  T* w_2 = w_a + cout * taps_a;
  T* w_b = w_2 + cout * taps_2;
  T* packed_a = w_b + cout * taps_b;
  T* packed_2 = packed_a + cout * taps_a;
  T* packed_b = packed_2 + cout * taps_2;
  const auto g = [&](int64_t o, int64_t i, int64_t j) { return weight[(o * cin + i) * k + j]; };
  for (int64_t i = 0; i < cin; ++i) {
    const int64_t row0 = i * rows_per_channel;
    for (int64_t q = 0; q < tap_pairs + lone; ++q) {
      const bool pair = q < tap_pairs;
      const int64_t ta = i * (tap_pairs + lone) + q;
      offset_a[ta] = (row0 + (pair ? 3 * q : 3 * tap_pairs)) * band_pad;
      offset_b[ta] = (row0 + (pair ? 3 * q + 2 : 3 * tap_pairs + 1)) * band_pad;
      for (int64_t o = 0; o < cout; ++o) {
        w_a[o * taps_a + ta] = g(o, i, pair ? 2 * q : k - 1);
        w_b[o * taps_b + ta] = g(o, i, pair ? 2 * q + 1 : k - 1);
      }
      if (pair) {
        const int64_t t2 = i * tap_pairs + q;
        offset_2[t2] = (row0 + 3 * q + 1) * band_pad;
        for (int64_t o = 0; o < cout; ++o) w_2[o * taps_2 + t2] = g(o, i, 2 * q) + g(o, i, 2 * q + 1);
      }
    }
  }
  pack_block_weights(w_a, cout, taps_a, packed_a);
  pack_block_weights(w_2, cout, taps_2, packed_2);
  pack_block_weights(w_b, cout, taps_b, packed_b);
  const bool stream_output = n * cout * length * int64_t(sizeof(T)) >= kStreamOutputBytes;

#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < n * b.bands; ++tile) {
    const int64_t sample = tile / b.bands;
    const int64_t a0 = tile % b.bands * b.band, width = std::min(pairs, a0 + b.band) - a0;
    const int64_t q_end = (width + kBlockQ<T> - 1) / kBlockQ<T> * kBlockQ<T>;
    T* copy = thread_scratch<T, 0>(cin * rows_per_channel * band_pad);
    T* out_a = thread_scratch<T, 1>(3 * cout * band_pad);
    T* out_2 = out_a + cout * band_pad;
    T* out_b = out_2 + cout * band_pad;
    const T* x_sample = x + sample * cin * length;
    for (int64_t i = 0; i < cin; ++i) {
      const T* row = x_sample + i * length;
      T* rows = copy + i * rows_per_channel * band_pad;
      // Runs of consecutive times: a in [a, a + run) share floor(a / d).
      for (int64_t a = a0, run; a < a0 + width; a += run) {
        run = std::min(a0 + width, (a / d + 1) * d) - a;
        const int64_t t = a / d * 2 * d + a % d, q = a - a0;
        // The run reads x from t - (k-1) d to t + d + run: inside x, no bounds test.
        const bool inside = t - (k - 1) * d >= 0 && t + d + run <= length;
        for (int64_t p = 0; p < tap_pairs; ++p) {
          const int64_t s0 = t + (2 * p - (k - 1)) * d;  // x_2p at the run's first time
          T* u1 = rows + 3 * p * band_pad + q;
          T* u2 = u1 + band_pad;
          T* u3 = u2 + band_pad;
          if (inside) {
            const T* x0 = row + s0;
            const T* x1 = x0 + d;
            const T* x2 = x1 + d;
#pragma omp simd
            for (int64_t c = 0; c < run; ++c) {
              u1[c] = x0[c] - x1[c];
              u2[c] = x1[c];
              u3[c] = x2[c] - x1[c];
            }
          } else {
#pragma omp simd
            for (int64_t c = 0; c < run; ++c) {
              const T x0 = causal_input(row, length, s0 + c), x1 = causal_input(row, length, s0 + d + c);
              const T x2 = causal_input(row, length, s0 + 2 * d + c);
              u1[c] = x0 - x1;
              u2[c] = x1;
              u3[c] = x2 - x1;
            }
          }
        }
        if (lone) {
          copy_window(row, length, t, run, rows + 3 * tap_pairs * band_pad + q);
          copy_window(row, length, t + d, run, rows + (3 * tap_pairs + 1) * band_pad + q);
        }
      }
      // The last register block reads past the band: zeros, its outputs dropped.
      for (int64_t r = 0; r < rows_per_channel; ++r)
        std::fill(rows + r * band_pad + width, rows + r * band_pad + q_end, T(0));
    }
    gemm_band(copy, offset_a, taps_a, packed_a, cout, q_end, out_a, band_pad);
    if (taps_2) gemm_band(copy, offset_2, taps_2, packed_2, cout, q_end, out_2, band_pad);
    gemm_band(copy, offset_b, taps_b, packed_b, cout, q_end, out_b, band_pad);
    for (int64_t co = 0; co < cout; ++co) {
      const T bias_o = bias ? bias[co] : T(0);
      const T* m_a = out_a + co * band_pad;
      const T* m_b = out_b + co * band_pad;
      const T* m_2 = taps_2 ? out_2 + co * band_pad : nullptr;
      T* y_row = y + (sample * cout + co) * length;
      for (int64_t a = a0, run; a < a0 + width; a += run) {
        run = std::min(a0 + width, (a / d + 1) * d) - a;
        const int64_t t = a / d * 2 * d + a % d, q = a - a0;
        store_sum(y_row + t, m_a + q, m_2 ? m_2 + q : nullptr, bias_o, run, stream_output);
        const int64_t second = std::min(run, length - (t + d));  // pairs near the end may lack it
        if (second > 0) store_sum(y_row + t + d, m_b + q, m_2 ? m_2 + q : nullptr, bias_o, second, stream_output);
      }
    }
    if (stream_output) stream_fence();
  }
}

}  // namespace

template <typename T>
void causal_conv1d_cpu_launch(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout,
                              int64_t k, int64_t length, int64_t dilation, T* y) {
  if (n == 0 || length == 0) return;
  if (pairs_pay<T>(k, length, dilation))
    conv_paired(x, weight, bias, n, cin, cout, k, length, dilation, y);
  else
    conv_direct(x, weight, bias, n, cin, cout, k, length, dilation, y);
}

template <typename T>
double causal_conv1d_cpu_flops(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation,
                               bool bias) {
  const double outputs = double(n) * double(cout) * double(length), bias_flops = bias ? outputs : 0.0;
  if (!pairs_pay<T>(k, length, dilation)) return 2.0 * outputs * double(cin) * double(k) + bias_flops;
  // Per pair of outputs and channel pair: 3 products per tap pair, 2 for a
  // last lone tap; per pair and input channel, the tap pairs' 2 differences;
  // per output, with tap pairs, the store's sum of two products.
  const double pairs = double(n) * double(pair_count(length, dilation)), tap_pairs = double(k / 2);
  const double products = 2.0 * pairs * double(cout) * double(cin) * (3.0 * tap_pairs + 2.0 * double(k % 2));
  return products + 2.0 * pairs * double(cin) * tap_pairs + (tap_pairs > 0 ? outputs : 0.0) + bias_flops;
}

template double causal_conv1d_cpu_flops<float>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool);
template double causal_conv1d_cpu_flops<double>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool);
template void causal_conv1d_cpu_launch<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                              int64_t, int64_t, int64_t, float*);
template void causal_conv1d_cpu_launch<double>(const double*, const double*, const double*, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace kernel_arena
