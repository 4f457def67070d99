// convlstm_cell on the CPU: the channels-last packing of cat(x, h) before the
// convolution, and the gate pass after it. Both move data between the planar
// (NCHW) tensors of the op's interface and oneDNN's channels-last layout a
// tile of pixels at a time, so each planar row is read or written as a run of
// whole cache lines.
#include <algorithm>

#include "ops/convlstm_cell.h"

namespace kernel_arena {

// Packing works on blocks of 16 channels x kPackPixels pixels: each pixel's
// 16 float32 channels are one 64-byte line of xh, written whole, and each
// channel's 64 pixels are four whole lines of its plane. Measured on the
// 4 x 96 x 64 x 64 input: half the time of a channel-at-a-time loop, which
// dirties every output line 16 times.
constexpr int64_t kPackChannels = 16;
constexpr int64_t kPackPixels = 64;
// Pixels per gate-pass task: each of the 2 * hidden planar rows of c' and h'
// gets a 512-byte run (float32), long enough for the prefetchers; the tile's
// gates (128 pixels x 4 * hidden channels, 128 KiB at hidden = 64) stay in L2
// while the loop over hidden channels reads them back.
constexpr int64_t kGatePixels = 128;

// Pixels [begin, end) of one sample's planes (planes, pixels) into channels
// [first, first + planes) of its channels-last rows (pixels, channels).
template <typename T>
static inline void pack_planes(const T* src, int64_t planes, int64_t pixels, int64_t begin, int64_t end, T* out,
                               int64_t channels, int64_t first) {
  for (int64_t block = 0; block < planes; block += kPackChannels) {
    const int64_t block_end = std::min(planes, block + kPackChannels);
    for (int64_t p = begin; p < end; ++p)
      for (int64_t ch = block; ch < block_end; ++ch) out[p * channels + first + ch] = src[ch * pixels + p];
  }
}

template <typename T>
void concat_channels_last_cpu_launch(const T* x, const T* h, int64_t batch, int64_t in_channels, int64_t hidden,
                                     int64_t pixels, T* xh) {
  const int64_t channels = in_channels + hidden;
  const int64_t tiles_per_sample = (pixels + kPackPixels - 1) / kPackPixels;
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < batch * tiles_per_sample; ++tile) {
    const int64_t sample = tile / tiles_per_sample;
    const int64_t begin = (tile % tiles_per_sample) * kPackPixels, end = std::min(pixels, begin + kPackPixels);
    T* out = xh + sample * pixels * channels;
    pack_planes(x + sample * in_channels * pixels, in_channels, pixels, begin, end, out, channels, 0);
    pack_planes(h + sample * hidden * pixels, hidden, pixels, begin, end, out, channels, in_channels);
  }
}

template <typename T>
void convlstm_gates_channels_last_cpu_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels,
                                             T* h_next, T* c_next) {
  const int64_t gate_channels = 4 * hidden;
  const int64_t tiles_per_sample = (pixels + kGatePixels - 1) / kGatePixels;
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < batch * tiles_per_sample; ++tile) {
    const int64_t sample = tile / tiles_per_sample;
    const int64_t begin = (tile % tiles_per_sample) * kGatePixels, end = std::min(pixels, begin + kGatePixels);
    const T* sample_gates = gates + sample * pixels * gate_channels;
    for (int64_t j = 0; j < hidden; ++j) {
      const int64_t row = (sample * hidden + j) * pixels;  // planar row of channel j in c, h', c'
      // Strided loads (gathers) of the four gates: staging the tile through
      // an explicit transpose measured no faster.
#pragma omp simd
      for (int64_t p = begin; p < end; ++p) {
        const T* g = sample_gates + p * gate_channels + j;  // gate q of channel j at g[q * hidden]
        const LstmState<T> s = lstm_gate_update(g[0], g[hidden], g[2 * hidden], g[3 * hidden], c[row + p]);
        h_next[row + p] = s.h;
        c_next[row + p] = s.c;
      }
    }
  }
}

template void concat_channels_last_cpu_launch<float>(const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                                     float*);
template void concat_channels_last_cpu_launch<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                                      int64_t, double*);
template void convlstm_gates_channels_last_cpu_launch<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                                             float*, float*);
template void convlstm_gates_channels_last_cpu_launch<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                                              double*, double*);

}  // namespace kernel_arena
