// Element math shared by the CuPy kernels (impls/<op>/cupy_kernels.cu):
// sigmoid and tanh in float and double, and the LSTM gate update that
// lstm_cell and convlstm_cell both apply. Written for NVRTC: no headers, the
// CUDA math functions are built in.
//
// Accuracy: expf/tanhf are CUDA's full-precision functions (2 ulp at most;
// CuPy compiles without --use_fast_math), exp/tanh likewise in double.
#ifndef KA_CUPY_MATH_CUH
#define KA_CUPY_MATH_CUH

__device__ __forceinline__ float ka_exp(float v) { return expf(v); }
__device__ __forceinline__ double ka_exp(double v) { return exp(v); }
__device__ __forceinline__ float ka_abs(float v) { return fabsf(v); }
__device__ __forceinline__ double ka_abs(double v) { return fabs(v); }
__device__ __forceinline__ float ka_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double ka_tanh(double v) { return tanh(v); }

// sigmoid(z) = 1 / (1 + exp(-z)) overflows exp for z below about -88
// (float) or -709 (double). With e = exp(-|z|) in (0, 1] it is 1 / (1 + e)
// for z >= 0 and e / (1 + e) for z < 0: the denominator lies in (1, 2], so
// nothing overflows and both tails keep their relative accuracy (the same
// form as impls/activations.py).
template <typename T>
__device__ __forceinline__ T ka_sigmoid(T z) {
  const T e = ka_exp(-ka_abs(z));
  return (z >= T(0) ? T(1) : e) / (T(1) + e);
}

// The LSTM cell update from the gate pre-activations in PyTorch's order
// i, f, g, o and the previous cell state:
//   c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c').
// Saturated gates give their limits (sigmoid -> 0 or 1, tanh -> +-1), never NaN.
template <typename T>
__device__ __forceinline__ void ka_lstm_update(T gate_i, T gate_f, T gate_g, T gate_o, T c_prev, T* h_next,
                                               T* c_next) {
  const T c = ka_sigmoid(gate_f) * c_prev + ka_sigmoid(gate_i) * ka_tanh(gate_g);
  *c_next = c;
  *h_next = ka_sigmoid(gate_o) * ka_tanh(c);
}

#endif  // KA_CUPY_MATH_CUH
