// box_iou: the IoU of one pair of boxes, shared by the CPU loop and the CUDA
// kernel (and by nms, which asks the same question of candidate pairs).
#pragma once
#include <cstdint>

#include "macros.h"

namespace kernel_arena {

template <typename T>
KA_HOST_DEVICE T box_area(T x1, T y1, T x2, T y2) {
  return (x2 - x1) * (y2 - y1);
}

// Area of the overlap of two boxes (0 if they do not overlap). Branch-free
// min/max so the CPU loops vectorise.
template <typename T>
KA_HOST_DEVICE T box_intersection(T ax1, T ay1, T ax2, T ay2, T bx1, T by1, T bx2, T by2) {
  T w = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1);
  T h = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1);
  w = w > T(0) ? w : T(0);
  h = h > T(0) ? h : T(0);
  return w * h;
}

// The intersection and union of a pair, with intersection <= union. Exact
// arithmetic guarantees it, and so does rounding each operation on its own;
// but the compilers may contract a product into the sum (an FMA: GCC's
// default, nvcc's --fmad), and then identical boxes can get a union an ulp
// below their intersection: an IoU above 1, which a threshold of 1 would
// suppress. Clamping the intersection to the union holds IoU <= 1 and keeps
// IoU > 1 false in any evaluation order.
template <typename T>
struct Overlap {
  T inter, uni;
};

template <typename T>
KA_HOST_DEVICE Overlap<T> box_overlap(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  const T inter = box_intersection(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2);
  const T uni = area_a + area_b - inter;
  return {inter < uni ? inter : uni, uni};
}

// Intersection over union, in [0, 1]; 0 where the union is 0 (two zero-area boxes).
template <typename T>
KA_HOST_DEVICE T iou_pair(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  const Overlap<T> o = box_overlap(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b);
  return o.uni > T(0) ? o.inter / o.uni : T(0);
}

// Launchers on raw, contiguous pointers: a (n, 4), b (m, 4), out (n, m).
template <typename T>
void box_iou_cpu_launch(const T* a, int64_t n, const T* b, int64_t m, T* out);
#ifdef WITH_CUDA
template <typename T>
void box_iou_cuda_launch(const T* a, int64_t n, const T* b, int64_t m, T* out, void* stream);
#endif

}  // namespace kernel_arena
