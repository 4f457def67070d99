// gated_unit on the GPU: one thread per output element, grid-stride.
#include <cuda_runtime.h>

#include "ops/cuda/cuda_check.h"
#include "ops/gated_unit.h"

namespace kernel_arena {

template <typename T>
__global__ void gated_unit_kernel(const T* __restrict__ x, int64_t c, int64_t l, int64_t total, GateKind kind,
                                  T* __restrict__ out) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t batch = idx / (c * l), rest = idx - batch * c * l;  // rest = channel * l + t
    const T* a = x + batch * 2 * c * l + rest;
    out[idx] = gate(a[0], a[c * l], kind);
  }
}

template <typename T>
void gated_unit_cuda_launch(const T* x, int64_t n, int64_t c, int64_t l, GateKind kind, T* out, void* stream) {
  const int64_t total = n * c * l;
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
  gated_unit_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, c, l, total, kind, out);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void gated_unit_cuda_launch<float>(const float*, int64_t, int64_t, int64_t, GateKind, float*, void*);
template void gated_unit_cuda_launch<double>(const double*, int64_t, int64_t, int64_t, GateKind, double*, void*);

}  // namespace kernel_arena
