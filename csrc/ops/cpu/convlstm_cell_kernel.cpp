// convlstm_cell on the CPU, around the convolution (the extension's conv2d):
// cat(x, h) along channels, and the gate pass from the planar gates to the
// planar h' and c', both in parallel over whole runs of memory.
#include <algorithm>
#include <cstring>

#include "ops/convlstm_cell.h"

namespace kernel_arena {

// Pixels per gate-pass task: each of the four gate rows read and the two
// rows written is a run of 2 KiB (float32), long enough for the prefetchers.
constexpr int64_t kGatePixels = 512;

template <typename T>
void concat_channels_cpu_launch(const T* x, const T* h, int64_t batch, int64_t x_sample, int64_t h_sample, T* xh) {
#pragma omp parallel for schedule(static)
  for (int64_t part = 0; part < 2 * batch; ++part) {
    const int64_t sample = part / 2;
    T* out = xh + sample * (x_sample + h_sample);
    if (part % 2 == 0)
      std::memcpy(out, x + sample * x_sample, x_sample * sizeof(T));
    else
      std::memcpy(out + x_sample, h + sample * h_sample, h_sample * sizeof(T));
  }
}

template <typename T>
void convlstm_gates_cpu_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels, T* h_next,
                               T* c_next) {
  const int64_t tiles_per_row = (pixels + kGatePixels - 1) / kGatePixels;
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < batch * hidden * tiles_per_row; ++tile) {
    const int64_t row = tile / tiles_per_row;  // (sample, channel j) of c, h', c'
    const int64_t sample = row / hidden, j = row % hidden;
    const int64_t begin = tile % tiles_per_row * kGatePixels, end = std::min(pixels, begin + kGatePixels);
    const T* g = gates + (sample * 4 * hidden + j) * pixels;  // gate q of channel j at g[q * hidden * pixels]
    const int64_t q = hidden * pixels;
#pragma omp simd
    for (int64_t p = begin; p < end; ++p) {
      const LstmState<T> s = lstm_gate_update(g[p], g[q + p], g[2 * q + p], g[3 * q + p], c[row * pixels + p]);
      h_next[row * pixels + p] = s.h;
      c_next[row * pixels + p] = s.c;
    }
  }
}

#define KA_INSTANTIATE(T)                                                                                         \
  template void concat_channels_cpu_launch<T>(const T*, const T*, int64_t, int64_t, int64_t, T*);                 \
  template void convlstm_gates_cpu_launch<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, T*);
KA_INSTANTIATE(float)
KA_INSTANTIATE(double)
#undef KA_INSTANTIATE

}  // namespace kernel_arena
