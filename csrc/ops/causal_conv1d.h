// causal_conv1d: y[n, o, t] = bias[o] + sum_{i, j} weight[o, i, j] * x[n, i, t - (k-1-j) * dilation],
// with x = 0 at negative times (the WaveNet/TCN Conv1d on a left-padded input).
//
// Both devices compute it as a GEMM over the flattened taps kk = i * k + j
// (the order of weight's rows in memory): the B operand's entry (kk, t) is
// the input sample that output time t multiplies by weight[:, i, j], read
// through causal_tap_sample below -- on the CPU into the tile's copy of the
// input, on the GPU into shared memory.
#pragma once
#include <cstdint>

#include "macros.h"

namespace kernel_arena {

// The input time that output time t reads through tap j of a k-tap kernel;
// negative times lie in the causal padding.
KA_HOST_DEVICE int64_t causal_tap_source(int64_t t, int64_t tap, int64_t k, int64_t dilation) {
  return t - (k - 1 - tap) * dilation;
}

// One input row's sample at time `source`, 0 outside [0, length): the left
// padding, and on the right the columns a vector block computes past the end
// (dropped). One unsigned compare tests both ends.
template <typename T>
KA_HOST_DEVICE T causal_input(const T* row, int64_t length, int64_t source) {
  return uint64_t(source) < uint64_t(length) ? row[source] : T(0);
}

// The GEMM's B entry (i * k + tap, t) of one sample: x_sample (cin, length).
template <typename T>
KA_HOST_DEVICE T causal_tap_sample(const T* x_sample, int64_t length, int64_t k, int64_t dilation, int64_t i,
                                   int64_t tap, int64_t t) {
  return causal_input(x_sample + i * length, length, causal_tap_source(t, tap, k, dilation));
}

// Launchers on raw contiguous pointers: x (n, cin, length), weight
// (cout, cin, k), bias (cout) or null, y (n, cout, length).
template <typename T>
void causal_conv1d_cpu_launch(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout,
                              int64_t k, int64_t length, int64_t dilation, T* y);
// The FLOPs the CPU kernel performs (its F(2, 2) tap pairs do 3 products per
// pair of outputs where the plain convolution does 4, and the additions that
// transform their inputs and outputs), for cost models.
template <typename T>
double causal_conv1d_cpu_flops(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation,
                               bool bias);
#ifdef WITH_CUDA
template <typename T>
void causal_conv1d_cuda_launch(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout,
                               int64_t k, int64_t length, int64_t dilation, T* y, void* stream);
#endif

}  // namespace kernel_arena
