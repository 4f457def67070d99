// wavenet_stream: a WaveNet residual stack run one time step at a time with
// the fast-wavenet queues. Layer l, at step t:
//   h       = W_l[:, :, 0] @ x_l[t - d_l] + W_l[:, :, 1] @ x_l[t] + b_l   (2C rows)
//   x_{l+1} = x_l[t] + tanh(h[:C]) * sigmoid(h[C:])
// with x_l = 0 before t = 0. Each layer keeps its past inputs in a ring of
// `capacity` slots of C values: x_l[t] sits in slot t mod capacity.
//
// The rings hold more than d slots (the next power of two above d): x_l[t]
// goes into its slot (as layer l - 1's output) before layer l reads
// x_l[t - d], so the two must never share one. A layer whose dilation reaches
// past the sequence never reads its past (every past input is padding): one
// slot holds its present input.
#pragma once
#include <cstdint>

#include "ops/activations.h"

namespace kernel_arena {

KA_HOST_DEVICE int64_t wavenet_queue_capacity(int64_t dilation, int64_t steps) {
  if (dilation >= steps) return 1;
  int64_t capacity = 2;
  while (capacity <= dilation) capacity *= 2;
  return capacity;
}

// The slot of time t (t may be negative: it is never read then).
KA_HOST_DEVICE int64_t wavenet_queue_slot(int64_t t, int64_t capacity) {
  return int64_t(uint64_t(t) & uint64_t(capacity - 1));
}

// The gated residual update of one channel: filter = h[c], gate = h[C + c].
template <typename T>
KA_HOST_DEVICE T wavenet_residual_update(T residual, T filter, T gate) {
  return residual + tanh_act(filter) * sigmoid(gate);
}

// Launchers on raw contiguous pointers: x and y (n, channels, steps), weights
// (layers, 2 * channels, channels, 2), biases (layers, 2 * channels),
// dilations (layers), each >= 1.
//
// CPU: `threads` > 0 fixes the OpenMP threads (the stages of the layer
// pipeline, at most one per layer); 0 lets the launcher choose.
template <typename T>
void wavenet_stream_cpu_launch(const T* x, const T* weights, const T* biases, const int64_t* dilations, int64_t n,
                               int64_t channels, int64_t steps, int64_t layers, int64_t threads, T* y);
#ifdef WITH_CUDA
// GPU: packed (layers, 2 * channels inputs, 2 * channels rows), inputs
// 0..C-1 taking tap 0 (x_l[t - d]) and C..2C-1 tap 1 (x_l[t]); dilations on
// the device; rings (n, ring_size) with ring_size = channels * the sum of
// wavenet_queue_capacity over the layers, any content (a slot is read only
// after it is written).
template <typename T>
void wavenet_stream_cuda_launch(const T* x, const T* packed, const T* biases, const int64_t* dilations, int64_t n,
                                int64_t channels, int64_t steps, int64_t layers, T* rings, int64_t ring_size, T* y,
                                void* stream);
// Shared memory the GPU kernel needs per block, and the most it may take.
int64_t wavenet_stream_cuda_shared_bytes(int64_t channels, int64_t element_size);
int64_t wavenet_stream_cuda_max_shared_bytes();
#endif

}  // namespace kernel_arena
