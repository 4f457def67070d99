// causal_conv1d on the GPU: an implicit GEMM, y[n] (cout x length) = W (cout x
// cin * k) @ B (cin * k x length), with B's entries read through
// causal_tap_sample straight from x into shared memory -- no padded input and
// no column buffer in global memory.
//
// A block computes a tile of kTileO output channels x kTileT times of one
// sample, marching over the taps kk = i * k + j in chunks of kChunk: each chunk
// stages W[o-tile, kk-chunk] and B[kk-chunk, t-tile] in shared memory, then
// every thread accumulates its kPerThread x kPerThread outputs from them.
// Thread (ty, tx) of the 16 x 16 block owns outputs o = ty + 16 a and
// t = tx + 16 b: its shared-memory reads of B are 16 consecutive words (no
// bank conflicts), its reads of W a broadcast, and its stores to y 16
// consecutive times.
#include <cuda_runtime.h>

#include "ops/causal_conv1d.h"
#include "ops/cuda/cuda_check.h"

namespace kernel_arena {

namespace {

constexpr int kSide = 16;                    // threads per block side
constexpr int kPerThread = 4;                // outputs per thread along o and along t
constexpr int kTileO = kSide * kPerThread;   // 64 output channels per block
constexpr int kTileT = kSide * kPerThread;   // 64 times per block
constexpr int kChunk = 16;                   // taps staged per step
constexpr int kThreads = kSide * kSide;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    causal_conv1d_kernel(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                         int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation, int64_t o_tiles,
                         int64_t t_tiles, T* __restrict__ y) {
  // +1 column: the W stores below walk kk fastest, 64 + 1 words apart.
  __shared__ T w_tile[kChunk][kTileO + 1];
  __shared__ T b_tile[kChunk][kTileT];

  const int64_t tile = blockIdx.x;
  const int64_t t_tile = tile % t_tiles, o_tile = tile / t_tiles % o_tiles, sample = tile / (t_tiles * o_tiles);
  const int64_t o0 = o_tile * kTileO, t0 = t_tile * kTileT;
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const T* x_sample = x + sample * cin * length;
  const int64_t taps = cin * k;

  T acc[kPerThread][kPerThread] = {};
  for (int64_t kk0 = 0; kk0 < taps; kk0 += kChunk) {
    // W[o0 + oo, kk0 + c]: consecutive threads read consecutive taps of one row.
    for (int e = threadIdx.x; e < kChunk * kTileO; e += kThreads) {
      const int c = e % kChunk, oo = e / kChunk;
      const int64_t o = o0 + oo, kk = kk0 + c;
      w_tile[c][oo] = (o < cout && kk < taps) ? weight[o * taps + kk] : T(0);
    }
    // B[kk0 + c, t0 + tt]: consecutive threads read consecutive times. The
    // launcher keeps taps below 2^31: 32-bit division (64-bit is emulated).
    for (int e = threadIdx.x; e < kChunk * kTileT; e += kThreads) {
      const int tt = e % kTileT, c = e / kTileT;
      const int kk = int(kk0) + c, channel = kk / int(k), tap = kk % int(k);
      b_tile[c][tt] = kk < taps ? causal_tap_sample(x_sample, length, k, dilation, channel, tap, t0 + tt) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      T w[kPerThread], b[kPerThread];
#pragma unroll
      for (int a = 0; a < kPerThread; ++a) w[a] = w_tile[c][ty + kSide * a];
#pragma unroll
      for (int q = 0; q < kPerThread; ++q) b[q] = b_tile[c][tx + kSide * q];
#pragma unroll
      for (int a = 0; a < kPerThread; ++a)
#pragma unroll
        for (int q = 0; q < kPerThread; ++q) acc[a][q] += w[a] * b[q];
    }
    __syncthreads();  // the next chunk overwrites the tiles
  }

#pragma unroll
  for (int a = 0; a < kPerThread; ++a) {
    const int64_t o = o0 + ty + kSide * a;
    if (o >= cout) continue;
    const T b = bias ? bias[o] : T(0);
    T* y_row = y + (sample * cout + o) * length;
#pragma unroll
    for (int q = 0; q < kPerThread; ++q) {
      const int64_t t = t0 + tx + kSide * q;
      if (t < length) y_row[t] = acc[a][q] + b;
    }
  }
}

}  // namespace

template <typename T>
void causal_conv1d_cuda_launch(const T* x, const T* weight, const T* bias, int64_t n, int64_t cin, int64_t cout,
                               int64_t k, int64_t length, int64_t dilation, T* y, void* stream) {
  if (n == 0 || length == 0) return;
  const int64_t o_tiles = (cout + kTileO - 1) / kTileO, t_tiles = (length + kTileT - 1) / kTileT;
  const int64_t blocks = n * o_tiles * t_tiles;
  // gridDim.x's limit, and 32-bit tap indices in the kernel.
  if (blocks > int64_t(0x7fffffff) || cin * k > int64_t(0x7fffffff) - kChunk)
    throw std::invalid_argument("x: causal_conv1d on CUDA takes at most 2^31 - 1 tiles of 64 channels x 64 times "
                                "and Cin * k below 2^31");
  causal_conv1d_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      x, weight, bias, cin, cout, k, length, dilation, o_tiles, t_tiles, y);
  KA_CUDA_CHECK(cudaGetLastError());
}

template void causal_conv1d_cuda_launch<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, float*, void*);
template void causal_conv1d_cuda_launch<double>(const double*, const double*, const double*, int64_t, int64_t,
                                                int64_t, int64_t, int64_t, int64_t, double*, void*);

}  // namespace kernel_arena
