// nms on the GPU, the bitmask scheme: block (r, c) compares the 64 boxes of
// row block r with the 64 of column block c and writes, per row box, one
// 64-bit word whose bit j says "suppresses box c*64 + j". One block then
// walks the boxes in score order, keeping a box unless a kept one's word
// has its bit set -- the sequential part touches only bits.
#include <cuda_runtime.h>

#include "ops/cuda/cuda_check.h"
#include "ops/nms.h"

namespace kernel_arena {
namespace {

constexpr int kBoxesPerBlock = 64;  // one bit per box in a 64-bit mask word
constexpr int kReduceThreads = 256;

template <typename T>
__global__ void nms_mask_kernel(const T* __restrict__ boxes, int64_t n, T iou_threshold, uint64_t* __restrict__ mask) {
  const int64_t row_block = blockIdx.y, col_block = blockIdx.x;
  if (col_block < row_block) return;  // a box is only ever suppressed by a higher-scoring one
  const int64_t col_blocks = (n + kBoxesPerBlock - 1) / kBoxesPerBlock;
  const int64_t rows_left = n - row_block * kBoxesPerBlock, cols_left = n - col_block * kBoxesPerBlock;
  const int rows = rows_left < kBoxesPerBlock ? int(rows_left) : kBoxesPerBlock;
  const int cols = cols_left < kBoxesPerBlock ? int(cols_left) : kBoxesPerBlock;

  __shared__ T col[kBoxesPerBlock][5];  // x1, y1, x2, y2, area
  if (threadIdx.x < cols) {
    const T* b = boxes + 4 * (col_block * kBoxesPerBlock + threadIdx.x);
    col[threadIdx.x][0] = b[0], col[threadIdx.x][1] = b[1], col[threadIdx.x][2] = b[2], col[threadIdx.x][3] = b[3];
    col[threadIdx.x][4] = box_area(b[0], b[1], b[2], b[3]);
  }
  __syncthreads();
  if (threadIdx.x >= rows) return;

  const int64_t i = row_block * kBoxesPerBlock + threadIdx.x;
  const T x1 = boxes[4 * i], y1 = boxes[4 * i + 1], x2 = boxes[4 * i + 2], y2 = boxes[4 * i + 3];
  const T area = box_area(x1, y1, x2, y2);
  uint64_t bits = 0;
  for (int j = (row_block == col_block) ? threadIdx.x + 1 : 0; j < cols; ++j) {
    if (suppresses(x1, y1, x2, y2, area, col[j][0], col[j][1], col[j][2], col[j][3], col[j][4], iou_threshold))
      bits |= 1ULL << j;
  }
  mask[i * col_blocks + col_block] = bits;
}

// One block: removed[] (in shared memory) holds the union of the masks of the
// boxes kept so far; box i is kept if its bit is clear.
__global__ void nms_reduce_kernel(const uint64_t* __restrict__ mask, int64_t n, uint8_t* __restrict__ keep) {
  extern __shared__ uint64_t removed[];
  const int64_t col_blocks = (n + kBoxesPerBlock - 1) / kBoxesPerBlock;
  for (int64_t w = threadIdx.x; w < col_blocks; w += blockDim.x) removed[w] = 0;
  __syncthreads();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t word = i / kBoxesPerBlock;
    const bool kept = !((removed[word] >> (i % kBoxesPerBlock)) & 1ULL);
    __syncthreads();  // every thread has read removed[word] before anyone updates it
    if (kept) {
      for (int64_t w = word + threadIdx.x; w < col_blocks; w += blockDim.x) removed[w] |= mask[i * col_blocks + w];
    }
    if (threadIdx.x == 0) keep[i] = kept;
    __syncthreads();
  }
}

}  // namespace

int64_t nms_cuda_max_boxes() { return int64_t(48 * 1024 / sizeof(uint64_t)) * kBoxesPerBlock; }

template <typename T>
void nms_cuda_launch(const T* sorted_boxes, int64_t n, T iou_threshold, uint64_t* mask, uint8_t* keep, void* stream) {
  if (n == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  const int64_t col_blocks = (n + kBoxesPerBlock - 1) / kBoxesPerBlock;
  const dim3 grid{static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks)};
  nms_mask_kernel<T><<<grid, kBoxesPerBlock, 0, s>>>(sorted_boxes, n, iou_threshold, mask);
  KA_CUDA_CHECK(cudaGetLastError());
  nms_reduce_kernel<<<1, kReduceThreads, col_blocks * sizeof(uint64_t), s>>>(mask, n, keep);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void nms_cuda_launch<float>(const float*, int64_t, float, uint64_t*, uint8_t*, void*);
template void nms_cuda_launch<double>(const double*, int64_t, double, uint64_t*, uint8_t*, void*);

}  // namespace kernel_arena
