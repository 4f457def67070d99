// box_iou on the CPU: rows in parallel, the areas of boxes2 precomputed once,
// the inner loop over boxes2 in structure-of-arrays form so it vectorises.
// The output (n x m, 64 MB at 4000 x 4000) is nearly all the traffic: a large
// one is written with streaming stores, each row computed into a per-thread
// buffer first, which skips the read-for-ownership of every output line
// (half the memory traffic of plain stores).
#include <vector>

#include "ops/box_iou.h"
#include "ops/cpu/direct_block.h"

namespace kernel_arena {

template <typename T>
void box_iou_cpu_launch(const T* a, int64_t n, const T* b, int64_t m, T* out) {
  std::vector<T> bx1(m), by1(m), bx2(m), by2(m), area_b(m);
  for (int64_t j = 0; j < m; ++j) {
    bx1[j] = b[4 * j];
    by1[j] = b[4 * j + 1];
    bx2[j] = b[4 * j + 2];
    by2[j] = b[4 * j + 3];
    area_b[j] = box_area(bx1[j], by1[j], bx2[j], by2[j]);
  }
  const bool stream = n * m * int64_t(sizeof(T)) >= cpu::kStreamOutputBytes;
#pragma omp parallel
  {
    T* buffer = stream ? cpu::thread_scratch<T, 12>(m) : nullptr;
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; ++i) {
      const T ax1 = a[4 * i], ay1 = a[4 * i + 1], ax2 = a[4 * i + 2], ay2 = a[4 * i + 3];
      const T area_a = box_area(ax1, ay1, ax2, ay2);
      T* row = stream ? buffer : out + i * m;
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) {
        row[j] = iou_pair(ax1, ay1, ax2, ay2, area_a, bx1[j], by1[j], bx2[j], by2[j], area_b[j]);
      }
      if (stream) cpu::stream_copy(out + i * m, buffer, m);
    }
    if (stream) cpu::stream_fence();  // streaming stores are weakly ordered: publish before the region ends
  }
}

template void box_iou_cpu_launch<float>(const float*, int64_t, const float*, int64_t, float*);
template void box_iou_cpu_launch<double>(const double*, int64_t, const double*, int64_t, double*);

}  // namespace kernel_arena
