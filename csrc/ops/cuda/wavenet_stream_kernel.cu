// wavenet_stream on the GPU: one persistent block per sample walks the time
// steps and layers in order, as real-time inference does; the rings of
// wavenet_stream.h live in global memory, the current layer's input vector
// [x_l[t - d], x_l[t]] and its 2C pre-activations in shared memory.
//
// Thread r computes row r of h (rows blockDim.x apart when 2C exceeds the
// block): the weights are packed as [layer][input][row], so a warp's loads of
// one input's weights are consecutive, and every input value is a shared-
// memory broadcast. Channel c's ring traffic and gate are done by the thread
// c % blockDim.x, which also owns v[C + c]: the present input it loads, saves
// and updates needs no barrier of its own. Two barriers per layer: after the
// input vector is complete, and after h is.
#include <cuda_runtime.h>

#include <algorithm>

#include "ops/cuda/cuda_check.h"
#include "ops/wavenet_stream.h"

namespace kernel_arena {

namespace {

constexpr int kMaxThreads = 256;  // rows per pass; a C = 64 stack (128 rows) uses 128 threads
constexpr int64_t kMaxSharedBytes = 48 * 1024;  // the default limit, without an opt-in

template <typename T>
__global__ void wavenet_stream_kernel(const T* __restrict__ x, const T* __restrict__ packed,
                                      const T* __restrict__ biases, const int64_t* __restrict__ dilations,
                                      int64_t channels, int64_t steps, int64_t layers, int64_t ring_size,
                                      T* __restrict__ rings, T* __restrict__ y) {
  extern __shared__ __align__(16) unsigned char shared_raw[];
  T* v = reinterpret_cast<T*>(shared_raw);  // [2C]: x_l[t - d], then x_l[t]
  T* h = v + 2 * channels;                   // [2C]: filter rows, then gate rows
  const int64_t inputs = 2 * channels, sample = blockIdx.x;
  const T* x_sample = x + sample * channels * steps;
  T* y_sample = y + sample * channels * steps;
  T* sample_rings = rings + sample * ring_size;

  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) v[channels + c] = x_sample[c * steps + t];
    int64_t offset = 0;  // layer l's ring within the sample's rings
    for (int64_t l = 0; l < layers; ++l) {
      const int64_t d = dilations[l], capacity = wavenet_queue_capacity(d, steps);
      T* ring = sample_rings + offset;
      const bool with_past = t >= d;
      T* past_slot = ring + wavenet_queue_slot(t - d, capacity) * channels;
      T* present_slot = ring + wavenet_queue_slot(t, capacity) * channels;  // never past_slot (capacity > d)
      for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) {
        if (with_past) v[c] = past_slot[c];
        present_slot[c] = v[channels + c];
      }
      __syncthreads();
      // While t < d the past is padding: those inputs add nothing.
      const int64_t first_input = with_past ? 0 : channels;
      const T* layer_weights = packed + l * inputs * inputs;
      for (int64_t row = threadIdx.x; row < inputs; row += blockDim.x) {
        T acc = biases[l * inputs + row];
        for (int64_t i = first_input; i < inputs; ++i) acc += layer_weights[i * inputs + row] * v[i];
        h[row] = acc;
      }
      __syncthreads();
      for (int64_t c = threadIdx.x; c < channels; c += blockDim.x)
        v[channels + c] = wavenet_residual_update(v[channels + c], h[c], h[channels + c]);
      offset += capacity * channels;
    }
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) y_sample[c * steps + t] = v[channels + c];
  }
}

}  // namespace

int64_t wavenet_stream_cuda_shared_bytes(int64_t channels, int64_t element_size) {
  return 4 * channels * element_size;
}

int64_t wavenet_stream_cuda_max_shared_bytes() { return kMaxSharedBytes; }

template <typename T>
void wavenet_stream_cuda_launch(const T* x, const T* packed, const T* biases, const int64_t* dilations, int64_t n,
                                int64_t channels, int64_t steps, int64_t layers, T* rings, int64_t ring_size, T* y,
                                void* stream) {
  if (n == 0 || steps == 0) return;
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (layers == 0) {
    KA_CUDA_CHECK(cudaMemcpyAsync(y, x, n * channels * steps * sizeof(T), cudaMemcpyDeviceToDevice, cuda_stream));
    return;
  }
  const int threads = int(std::min<int64_t>(kMaxThreads, (2 * channels + 31) / 32 * 32));
  const size_t shared = size_t(wavenet_stream_cuda_shared_bytes(channels, sizeof(T)));
  wavenet_stream_kernel<T><<<static_cast<unsigned>(n), threads, shared, cuda_stream>>>(
      x, packed, biases, dilations, channels, steps, layers, ring_size, rings, y);
  KA_CUDA_CHECK(cudaGetLastError());
}

#define KA_INSTANTIATE(T)                                                                                           \
  template void wavenet_stream_cuda_launch<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                              int64_t, T*, int64_t, T*, void*);
KA_INSTANTIATE(float)
KA_INSTANTIATE(double)
#undef KA_INSTANTIATE

}  // namespace kernel_arena
