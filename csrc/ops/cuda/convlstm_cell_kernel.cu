// convlstm_cell on the GPU: the gate pass after cuDNN's convolution, one
// thread per (sample, hidden channel, pixel); consecutive threads take
// consecutive pixels, so the loads of each gate plane are coalesced.
#include <cuda_runtime.h>

#include <algorithm>

#include "ops/convlstm_cell.h"
#include "ops/cuda/cuda_check.h"

namespace kernel_arena {

template <typename T>
__global__ void convlstm_gates_kernel(const T* __restrict__ gates, const T* __restrict__ c, int64_t plane_size,
                                      int64_t total, T* __restrict__ h_next, T* __restrict__ c_next) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t sample = idx / plane_size, rest = idx - sample * plane_size;  // rest = channel * pixels + pixel
    const T* g = gates + sample * 4 * plane_size + rest;  // gate q at g[q * plane_size]
    const LstmState<T> s = lstm_gate_update(g[0], g[plane_size], g[2 * plane_size], g[3 * plane_size], c[idx]);
    h_next[idx] = s.h;
    c_next[idx] = s.c;
  }
}

template <typename T>
void convlstm_gates_cuda_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels, T* h_next,
                                T* c_next, void* stream) {
  const int64_t total = batch * hidden * pixels;
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
  convlstm_gates_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(gates, c, hidden * pixels,
                                                                                       total, h_next, c_next);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void convlstm_gates_cuda_launch<float>(const float*, const float*, int64_t, int64_t, int64_t, float*, float*,
                                                void*);
template void convlstm_gates_cuda_launch<double>(const double*, const double*, int64_t, int64_t, int64_t, double*,
                                                 double*, void*);

}  // namespace kernel_arena
