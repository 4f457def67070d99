// conv2d's im2col on the GPU: one thread per column-buffer entry, grid-stride,
// each computing the shared element of ops/conv2d.h. The GEMMs run in ATen
// (cuBLAS) from ops/conv2d.cpp.
#include <cuda_runtime.h>

#include "ops/conv2d.h"
#include "ops/cuda/cuda_check.h"

namespace kernel_arena {

// Entries are numbered in the buffer's own order (image, c, ki, kj, out_y,
// out_x): consecutive threads write consecutive addresses, and for stride 1
// read consecutive input pixels too.
template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, int64_t total, Conv2dGeometry g, T* __restrict__ col) {
  const int64_t image_size = g.channels * g.height * g.width;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = idx;
    const int64_t out_x = rest % g.out_w;
    rest /= g.out_w;
    const int64_t out_y = rest % g.out_h;
    rest /= g.out_h;
    const int64_t kj = rest % g.kernel_w;
    rest /= g.kernel_w;
    const int64_t ki = rest % g.kernel_h;
    rest /= g.kernel_h;
    const int64_t c = rest % g.channels;
    const int64_t image = rest / g.channels;
    col[idx] = im2col_element(x + image * image_size, g, c, ki, kj, out_y, out_x);
  }
}

template <typename T>
void im2col_cuda_launch(const T* x, int64_t images, const Conv2dGeometry& g, T* col, void* stream) {
  const int64_t total = images * g.channels * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
  im2col_kernel<T><<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, total, g, col);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void im2col_cuda_launch<float>(const float*, int64_t, const Conv2dGeometry&, float*, void*);
template void im2col_cuda_launch<double>(const double*, int64_t, const Conv2dGeometry&, double*, void*);

}  // namespace kernel_arena
