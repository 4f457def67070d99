// convlstm_cell: one ConvLSTM step (Shi et al., 2015, without peepholes). The
// gates come from one 'same' convolution over cat(x, h); what follows is the
// LSTM gate update of ops/lstm_cell.h at every pixel.
#pragma once
#include <cstdint>

#include "ops/lstm_cell.h"

namespace kernel_arena {

// Launchers on raw, contiguous pointers; c, h_next, c_next are
// (batch, hidden, pixels) and the gates are the convolution's output with its
// bias, channel blocks i, f, g, o.
//
// The CPU runs the convolution channels-last (oneDNN's fastest layout for it):
// x (batch, in_channels, pixels) and h (batch, hidden, pixels) are packed into
// xh (batch, pixels, in_channels + hidden), and the gates come back
// (batch, pixels, 4 * hidden).
template <typename T>
void concat_channels_last_cpu_launch(const T* x, const T* h, int64_t batch, int64_t in_channels, int64_t hidden,
                                     int64_t pixels, T* xh);
template <typename T>
void convlstm_gates_channels_last_cpu_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels,
                                             T* h_next, T* c_next);
#ifdef WITH_CUDA
// The GPU keeps cuDNN's default layout: gates (batch, 4 * hidden, pixels).
template <typename T>
void convlstm_gates_cuda_launch(const T* gates, const T* c, int64_t batch, int64_t hidden, int64_t pixels, T* h_next,
                                T* c_next, void* stream);
#endif

}  // namespace kernel_arena
