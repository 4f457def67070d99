// gated_unit on the CPU: one pass, each (batch, channel) row in parallel; the
// kind is hoisted out of the loop so each inner loop is straight-line SIMD.
#include "ops/gated_unit.h"

namespace kernel_arena {

template <typename T, GateKind kKind>
static void gated_rows(const T* x, int64_t n, int64_t c, int64_t l, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n * c; ++row) {
    const int64_t batch = row / c, channel = row % c;
    const T* a = x + (batch * 2 * c + channel) * l;
    const T* b = a + c * l;
    T* y = out + row * l;
#pragma omp simd
    for (int64_t t = 0; t < l; ++t) y[t] = gate(a[t], b[t], kKind);
  }
}

template <typename T>
void gated_unit_cpu_launch(const T* x, int64_t n, int64_t c, int64_t l, GateKind kind, T* out) {
  if (kind == GateKind::kTanh)
    gated_rows<T, GateKind::kTanh>(x, n, c, l, out);
  else
    gated_rows<T, GateKind::kGlu>(x, n, c, l, out);
}

template void gated_unit_cpu_launch<float>(const float*, int64_t, int64_t, int64_t, GateKind, float*);
template void gated_unit_cpu_launch<double>(const double*, int64_t, int64_t, int64_t, GateKind, double*);

}  // namespace kernel_arena
