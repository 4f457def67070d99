// causal_conv1d on the GPU (CuPy): a direct convolution.
//
//   y[n, o, t] = bias[o] + sum_{i, j} weight[o, i, j] * x[n, i, t - (k-1-j) * dilation]
//
// with x = 0 at negative times. Each thread computes kOutBlock output
// channels at one time step: every input sample it loads feeds kOutBlock
// multiply-adds. A block's threads share (sample, channel block) -- blockIdx.y
// -- and cover consecutive time steps, so the x loads coalesce and the weight
// loads are the same address for the whole warp (one broadcast). The padding
// is never built: a tap that would read before t = 0 is skipped.

// Output channels per thread: four accumulators, as the Numba kernel's rows.
constexpr int kOutBlock = 4;

// x (batch, in_channels, length), weight (out_channels, in_channels, taps),
// bias (out_channels), y (batch, out_channels, length); all sizes >= 1.
// Grid: x over time (grid-stride), y over batch * ceil(out_channels / kOutBlock)
// rows (grid-stride).
template <typename T>
__global__ void causal_conv1d_kernel(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                                     long long batch, long long in_channels, long long out_channels, long long taps,
                                     long long length, long long dilation, T* __restrict__ y) {
  const long long out_blocks = (out_channels + kOutBlock - 1) / kOutBlock;
  for (long long row = blockIdx.y; row < batch * out_blocks; row += gridDim.y) {
    const long long sample = row / out_blocks;
    const long long o0 = (row - sample * out_blocks) * kOutBlock;
    const int outs = (out_channels - o0 < kOutBlock) ? (int)(out_channels - o0) : kOutBlock;
    const T* x_sample = x + sample * in_channels * length;
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < length;
         t += (long long)gridDim.x * blockDim.x) {
      T acc[kOutBlock];
#pragma unroll
      for (int r = 0; r < kOutBlock; ++r) acc[r] = (r < outs) ? bias[o0 + r] : T(0);
      for (long long i = 0; i < in_channels; ++i) {
        const T* x_row = x_sample + i * length;
        const T* w_row = weight + (o0 * in_channels + i) * taps;  // weight[o0, i, :]
        for (long long j = 0; j < taps; ++j) {
          const long long source = t - (taps - 1 - j) * dilation;
          if (source < 0) continue;  // this tap reads the causal padding
          const T v = x_row[source];
#pragma unroll
          for (int r = 0; r < kOutBlock; ++r) {
            if (r < outs) acc[r] += w_row[r * in_channels * taps + j] * v;  // weight[o0 + r, i, j]
          }
        }
      }
      T* y_out = y + (sample * out_channels + o0) * length + t;
#pragma unroll
      for (int r = 0; r < kOutBlock; ++r) {
        if (r < outs) y_out[r * length] = acc[r];
      }
    }
  }
}
