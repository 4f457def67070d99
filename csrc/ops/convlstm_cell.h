// convlstm_cell: one ConvLSTM step (Shi et al., 2015, without peepholes). The
// gates come from one 'same' convolution over cat(x, h); what follows is the
// LSTM gate update of ops/lstm_cell.h at every pixel.
#pragma once
#include <cstdint>

#include "ops/lstm_cell.h"

namespace kernel_arena {

// Launchers on raw, contiguous pointers; c, h_next, c_next are
// (batch, hidden, pixels) and the gates (batch, 4 * hidden, pixels), the
// convolution's output with its bias, channel blocks i, f, g, o.
//
// xh (batch, x_sample + h_sample) = each sample's x then its h.
template <typename T>
void concat_channels_cpu_launch(const T* x, const T* h, int64_t batch, int64_t x_sample, int64_t h_sample, T* xh);
template <typename T>
void convlstm_gates_cpu_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels, T* h_next,
                               T* c_next);
#ifdef WITH_CUDA
template <typename T>
void convlstm_gates_cuda_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels, T* h_next,
                                T* c_next, void* stream);
#endif

}  // namespace kernel_arena
