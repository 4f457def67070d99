// lstm_cell on the GPU: the gate pass after cuBLAS's GEMMs, one thread per
// (batch row, hidden unit); neighbouring threads read neighbouring units of
// each gate block, so every load and store is coalesced.
#include <cuda_runtime.h>

#include <algorithm>

#include "ops/cuda/cuda_check.h"
#include "ops/lstm_cell.h"

namespace kernel_arena {

template <typename T>
__global__ void lstm_gates_kernel(const T* __restrict__ gates_x, const T* __restrict__ gates_h,
                                  const T* __restrict__ b_ih, const T* __restrict__ b_hh, const T* __restrict__ c,
                                  int64_t hidden, int64_t total, T* __restrict__ h_next, T* __restrict__ c_next) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = idx / hidden, j = idx - row * hidden;
    const int64_t offset = row * 4 * hidden + j;  // gate q of unit j at offset + q * hidden
    T z[4];  // pre-activations i, f, g, o
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int64_t r = q * hidden + j;
      z[q] = (gates_x[offset + q * hidden] + gates_h[offset + q * hidden]) + (b_ih[r] + b_hh[r]);
    }
    const LstmState<T> s = lstm_gate_update(z[0], z[1], z[2], z[3], c[idx]);
    h_next[idx] = s.h;
    c_next[idx] = s.c;
  }
}

template <typename T>
void lstm_gates_cuda_launch(const T* gates_x, const T* gates_h, const T* b_ih, const T* b_hh, const T* c,
                            int64_t batch, int64_t hidden, T* h_next, T* c_next, void* stream) {
  const int64_t total = batch * hidden;
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
  lstm_gates_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(gates_x, gates_h, b_ih, b_hh, c,
                                                                                   hidden, total, h_next, c_next);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void lstm_gates_cuda_launch<float>(const float*, const float*, const float*, const float*, const float*,
                                            int64_t, int64_t, float*, float*, void*);
template void lstm_gates_cuda_launch<double>(const double*, const double*, const double*, const double*,
                                             const double*, int64_t, int64_t, double*, double*, void*);

}  // namespace kernel_arena
