// nms: greedy non-maximum suppression. The pair test below, on box_iou.h's
// intersection, is the same math on the CPU sweep and in the GPU bitmask kernel.
#pragma once
#include <cstdint>

#include "ops/box_iou.h"

namespace kernel_arena {

// Is a pair suppressing? IoU > threshold, asked without a division:
// inter > threshold * union (false where the union is 0; never true at a
// threshold of 1, as box_overlap keeps inter <= union).
template <typename T>
KA_HOST_DEVICE bool suppresses(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b,
                               T iou_threshold) {
  const Overlap<T> o = box_overlap(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b);
  return o.inter > iou_threshold * o.uni;
}

// CPU: boxes (n, 4) visited in `order` (n_order candidates, by decreasing
// score); writes the kept box indices into `kept` and returns their count.
template <typename T>
int64_t nms_cpu_launch(const T* boxes, const int64_t* order, int64_t n_order, T iou_threshold, int64_t* kept);

#ifdef WITH_CUDA
// GPU: boxes already sorted by decreasing score (n, 4); writes keep[i] = 1 for
// every kept position i. `mask` is scratch of n * ceil(n / 64) words.
template <typename T>
void nms_cuda_launch(const T* sorted_boxes, int64_t n, T iou_threshold, uint64_t* mask, uint8_t* keep, void* stream);
// The reduction keeps one bit per box in shared memory (48 KiB).
int64_t nms_cuda_max_boxes();
#endif

}  // namespace kernel_arena
