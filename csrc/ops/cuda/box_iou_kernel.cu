// box_iou on the GPU: one thread per output element, grid-stride, reading the
// shared per-pair math of ops/box_iou.h.
#include <cuda_runtime.h>

#include "ops/box_iou.h"
#include "ops/cuda/cuda_check.h"

namespace kernel_arena {

template <typename T>
__global__ void box_iou_kernel(const T* __restrict__ a, int64_t n, const T* __restrict__ b, int64_t m,
                               T* __restrict__ out) {
  const int64_t total = n * m;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / m, j = idx - i * m;  // consecutive threads: consecutive j, coalesced writes
    const T ax1 = a[4 * i], ay1 = a[4 * i + 1], ax2 = a[4 * i + 2], ay2 = a[4 * i + 3];
    const T bx1 = b[4 * j], by1 = b[4 * j + 1], bx2 = b[4 * j + 2], by2 = b[4 * j + 3];
    out[idx] = iou_pair(ax1, ay1, ax2, ay2, box_area(ax1, ay1, ax2, ay2), bx1, by1, bx2, by2,
                        box_area(bx1, by1, bx2, by2));
  }
}

template <typename T>
void box_iou_cuda_launch(const T* a, int64_t n, const T* b, int64_t m, T* out, void* stream) {
  if (n == 0 || m == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((n * m + kThreads - 1) / kThreads, 65535);
  box_iou_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a, n, b, m, out);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void box_iou_cuda_launch<float>(const float*, int64_t, const float*, int64_t, float*, void*);
template void box_iou_cuda_launch<double>(const double*, int64_t, const double*, int64_t, double*, void*);

}  // namespace kernel_arena
