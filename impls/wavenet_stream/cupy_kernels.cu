// wavenet_stream on the GPU (CuPy): one persistent kernel runs the whole
// stream, one block per sample (samples are independent streams), looping
// over time steps and, within a step, over layers -- the fast-wavenet queues:
//
//   h       = b_l + W_l[:, :, 0] x_l[t - d_l] + W_l[:, :, 1] x_l[t]     (2C outputs)
//   x_{l+1} = x_l + tanh(h[:C]) * sigmoid(h[C:])
//
// Layer l's queue is a ring of cap_l >= d_l slots of C values in global
// memory (cap_l a power of two, so a slot is an index & mask): at step t it
// yields x_l[t - d_l] from slot (t - d_l) mod cap_l and takes x_l[t] into slot
// t mod cap_l. Python zeroes the rings, and a slot is first read before it is
// first written, so the zeros are exactly the causal padding. The state of the
// step (C values), the queue's output (C) and h (2C) live in shared memory.
//
// Ownership, which makes two barriers per layer enough: thread tid owns the
// channels c = tid, tid + blockDim.x, ... (state, past and ring entries of c)
// and the outputs o = tid, tid + blockDim.x, ... of h. Per layer:
//   A  each thread loads past[c] from its own ring entries        -- barrier 1
//   B  each thread stores state[c] into its ring slot (its own entries, after
//      its own read in A), and computes h[o] from ALL of past and state
//                                                                   -- barrier 2
//   C  each thread updates state[c] from h[c] and h[C + c].
// Barrier 1 orders C of the previous layer (state writes) and A (past writes)
// before B's reads of every thread's state and past; barrier 2 orders B's
// writes of h before C's reads, and B's reads of state and past before C and
// the next layer's A overwrite them. At a step's end each thread writes its own
// y[c] and loads its own next x[c]: no other thread's data, no barrier needed.

#include "../cupy_math.cuh"

// x, y (batch, channels, steps); packed (layers, 2C, 2C): row i < C is the
// weight of x_l[t - d][i] (tap 0), row C + i that of x_l[t][i] (tap 1), column
// o the output h[o] -- so threads with consecutive o read consecutive weights.
// biases (layers, 2C). table (3 * layers): dilations, then ring masks
// (cap_l - 1), then ring offsets (in slots). ring (batch, slots, channels),
// zeros. layers >= 1, steps >= 1, channels >= 1.
// Grid: one block per sample. Dynamic shared memory: 4 * channels * sizeof(T).
template <typename T>
__global__ void wavenet_stream_kernel(const T* __restrict__ x, const T* __restrict__ packed,
                                      const T* __restrict__ biases, const long long* __restrict__ table,
                                      long long layers, long long channels, long long steps, long long slots,
                                      T* __restrict__ ring, T* __restrict__ y) {
  extern __shared__ double shared_values[];  // double: aligned for T = float and double
  T* state = reinterpret_cast<T*>(shared_values);
  T* past = state + channels;
  T* h = past + channels;  // 2C

  const long long sample = blockIdx.x;
  const long long outputs = 2 * channels;
  const T* x_sample = x + sample * channels * steps;
  T* y_sample = y + sample * channels * steps;
  T* ring_sample = ring + sample * slots * channels;

  for (long long t = 0; t < steps; ++t) {
    for (long long c = threadIdx.x; c < channels; c += blockDim.x) state[c] = x_sample[c * steps + t];

    for (long long layer = 0; layer < layers; ++layer) {
      const long long dilation = table[layer];
      const long long mask = table[layers + layer];
      T* layer_ring = ring_sample + table[2 * layers + layer] * channels;
      // t - dilation >= -(mask + 1): adding the capacity keeps the slot index non-negative.
      const long long read_slot = (t + mask + 1 - dilation) & mask;
      const long long write_slot = t & mask;

      // A: the queue's output x_l[t - d] (zeros before t = d).
      for (long long c = threadIdx.x; c < channels; c += blockDim.x) past[c] = layer_ring[read_slot * channels + c];
      __syncthreads();

      // B: x_l[t] into the queue (read_slot == write_slot when d == cap: read first, above), then h.
      for (long long c = threadIdx.x; c < channels; c += blockDim.x) layer_ring[write_slot * channels + c] = state[c];
      const T* w_past = packed + layer * outputs * outputs;
      const T* w_now = w_past + channels * outputs;
      for (long long o = threadIdx.x; o < outputs; o += blockDim.x) {
        T acc = biases[layer * outputs + o];
        for (long long i = 0; i < channels; ++i) acc += w_past[i * outputs + o] * past[i];
        for (long long i = 0; i < channels; ++i) acc += w_now[i * outputs + o] * state[i];
        h[o] = acc;
      }
      __syncthreads();

      // C: the gated residual update.
      for (long long c = threadIdx.x; c < channels; c += blockDim.x) {
        state[c] += ka_tanh(h[c]) * ka_sigmoid(h[channels + c]);
      }
    }

    for (long long c = threadIdx.x; c < channels; c += blockDim.x) y_sample[c * steps + t] = state[c];
  }
}
