// gated_unit on the GPU (CuPy): one fused elementwise pass that reads x once
// and writes out once. With a = x[:, :C] and b = x[:, C:]:
//   tanh: out = tanh(a) * sigmoid(b)   (WaveNet's gated tanh unit)
//   glu:  out = a * sigmoid(b)
// The kind is a template argument, so the loop carries no branch on it.
#include "../cupy_math.cuh"

// x (batch, 2C, L) contiguous, out (batch, C, L); plane = C * L, the size of
// one half of one sample (a and b are each contiguous within a sample).
// total = batch * plane >= 1; grid-stride.
template <typename T, bool kTanh>
__global__ void gated_unit_kernel(const T* __restrict__ x, long long total, long long plane, T* __restrict__ out) {
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long sample = idx / plane;
    const long long offset = idx - sample * plane;
    const T* halves = x + 2 * sample * plane + offset;
    const T a = halves[0];
    const T b = halves[plane];
    out[idx] = (kTanh ? ka_tanh(a) : a) * ka_sigmoid(b);
  }
}
