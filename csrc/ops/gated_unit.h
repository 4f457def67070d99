// gated_unit: out = act(a) * sigmoid(b) for a = x[:, :C], b = x[:, C:];
// act = tanh (WaveNet's gated tanh unit) or identity (GLU).
#pragma once
#include <cstdint>

#include "ops/activations.h"

namespace kernel_arena {

enum class GateKind : int { kTanh = 0, kGlu = 1 };

template <typename T>
KA_HOST_DEVICE T gate(T a, T b, GateKind kind) {
  return (kind == GateKind::kTanh ? tanh_act(a) : a) * sigmoid(b);
}

// x (n, 2c, l) contiguous -> out (n, c, l).
template <typename T>
void gated_unit_cpu_launch(const T* x, int64_t n, int64_t c, int64_t l, GateKind kind, T* out);
#ifdef WITH_CUDA
template <typename T>
void gated_unit_cuda_launch(const T* x, int64_t n, int64_t c, int64_t l, GateKind kind, T* out, void* stream);
#endif

}  // namespace kernel_arena
