// lstm_cell: one step of a PyTorch LSTM layer. The gate update below is the
// per-element math of both lstm_cell and convlstm_cell (a ConvLSTM applies it
// at every pixel), on the CPU and the GPU alike.
#pragma once
#include <cstdint>

#include "ops/activations.h"

namespace kernel_arena {

template <typename T>
struct LstmState {
  T h;
  T c;
};

// Pre-activations of the gates in PyTorch's order i, f, g, o and the previous
// cell state -> (h', c'):  c' = sigmoid(f) c + sigmoid(i) tanh(g),
// h' = sigmoid(o) tanh(c'). Saturated gates reach their limits: sigmoid and
// tanh_act clamp their exponent, so no inf/inf or 0 * inf appears.
template <typename T>
KA_HOST_DEVICE LstmState<T> lstm_gate_update(T gi, T gf, T gg, T go, T c_prev) {
  const T c = sigmoid(gf) * c_prev + sigmoid(gi) * tanh_act(gg);
  return {sigmoid(go) * tanh_act(c), c};
}

// Launchers on raw, contiguous pointers. gates_x = x @ w_ih^T and
// gates_h = h @ w_hh^T, each (batch, 4 * hidden) without biases: the gate
// pass adds both products and both biases as it reads them, so neither GEMM
// has to accumulate into the other. c, h_next, c_next are (batch, hidden);
// b_ih, b_hh (4 * hidden).
template <typename T>
void lstm_gates_cpu_launch(const T* gates_x, const T* gates_h, const T* b_ih, const T* b_hh, const T* c,
                           int64_t batch, int64_t hidden, T* h_next, T* c_next);

// The whole cell for a few batch rows: matrix-vector products fused with the
// gate update, for batches where a GEMM call costs more than its arithmetic.
// x (batch, input_size), h and c (batch, hidden), w_ih (4 * hidden, input_size),
// w_hh (4 * hidden, hidden).
template <typename T>
void lstm_cell_gemv_cpu_launch(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh, const T* b_ih,
                               const T* b_hh, int64_t batch, int64_t input_size, int64_t hidden, T* h_next,
                               T* c_next);

#ifdef WITH_CUDA
template <typename T>
void lstm_gates_cuda_launch(const T* gates_x, const T* gates_h, const T* b_ih, const T* b_hh, const T* c,
                            int64_t batch, int64_t hidden, T* h_next, T* c_next, void* stream);
#endif

}  // namespace kernel_arena
