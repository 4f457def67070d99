// sigmoid and tanh shared by gated_unit, lstm_cell, convlstm_cell and
// wavenet_stream, on the CPU and the GPU.
//
// float32 on the CPU does not call libm: glibc's expf/tanhf are scalar calls
// that stop the gate loops from vectorising. exp_f32 below reduces
// x = n ln2 + r (|r| <= ln2/2, Cody-Waite split of ln2), evaluates exp(r) by
// its degree-7 Taylor polynomial (truncation < 1e-8 relative) and scales by
// 2^n through the exponent bits: within a few ulp, and it vectorises. float64 and
// the GPU use the standard functions.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "macros.h"

namespace kernel_arena {

KA_HOST_DEVICE float exp_f32(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  // Clamped so 2^n stays a normal float: exp(-87.3) ~ 1.2e-38, exp(88.3) ~ 2.1e38.
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // Round to nearest by adding and subtracting 1.5 * 2^23 (nearbyint does not
  // vectorise under the default floating-point environment rules).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;  // ln2 high part: exact in float
  r = r - n * 1.428606765330187045e-06f;  // ln2 low part
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
#endif
}

KA_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
KA_HOST_DEVICE double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// tanh(x) = 1 - 2 / (exp(2x) + 1); near 0 that subtraction loses the relative
// accuracy, so |x| < 2^-3 takes the odd Taylor series (next term < 3e-9).
KA_HOST_DEVICE float tanh_act(float x) {
  const float x2 = x * x;
  const float series = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
  const float wide = 1.0f - 2.0f / (exp_f32(2.0f * x) + 1.0f);
  return (x2 < 0.015625f) ? series : wide;
}
KA_HOST_DEVICE double tanh_act(double x) { return tanh(x); }

}  // namespace kernel_arena
