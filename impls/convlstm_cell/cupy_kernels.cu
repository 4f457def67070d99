// convlstm_cell's gate pass on the GPU (CuPy): one thread per (sample, hidden
// channel, pixel) reads the four gate pre-activations at that pixel and writes
// h' and c' (ka_lstm_update, impls/cupy_math.cuh, the same update as
// lstm_cell). The gates come from the CuPy conv2d (im2col + cuBLAS) on
// cat(x, h), with the bias already added.
#include "../cupy_math.cuh"

// gates (batch, 4 * hidden, pixels), channel blocks in the order i, f, g, o;
// c, h_next, c_next (batch, hidden, pixels). total = batch * hidden * pixels
// >= 1; grid-stride.
template <typename T>
__global__ void convlstm_gates_kernel(const T* __restrict__ gates, const T* __restrict__ c, long long total,
                                      long long hidden, long long pixels, T* __restrict__ h_next,
                                      T* __restrict__ c_next) {
  const long long gate_stride = hidden * pixels;  // from one gate's block of channels to the next
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long sample = idx / gate_stride;
    const long long offset = idx - sample * gate_stride;  // channel * pixels + pixel
    const T* g = gates + sample * 4 * gate_stride + offset;
    ka_lstm_update(g[0], g[gate_stride], g[2 * gate_stride], g[3 * gate_stride], c[idx], h_next + idx, c_next + idx);
  }
}
