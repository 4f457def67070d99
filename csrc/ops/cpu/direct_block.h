// CPU building blocks shared by the direct convolutions (conv2d, causal_conv1d)
// and the streaming GEMVs of wavenet_stream: a 64-byte SIMD vector type, its
// loads and stores, per-thread scratch buffers kept between calls, streaming
// stores, and the register-blocked multiply-accumulate of a direct
// convolution over tap offsets.
#pragma once
#include <cstdint>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace kernel_arena {
namespace cpu {

// The per-thread scratch buffers, kept between calls: fresh ones would be
// first-touched (page-faulted) on every call, at ~3.5 GB/s on this machine.
// One buffer per (type, slot) and thread, shared by every op that asks for
// that slot: ops run one at a time on a thread.
template <typename T, int kSlot>
T* thread_scratch(int64_t elements) {
  static thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < elements) buffer.resize(elements);
  return buffer.data();
}

// One 64-byte SIMD register of T (AVX-512 here; two AVX2 or four SSE
// registers on other x86 CPUs), as a GCC/Clang vector type: the kernels are
// plain C++ and the compiler emits broadcast-FMAs from them. Loads and
// stores go through the element-aligned, may_alias variant: the windows sit
// at any offset in arrays of T.
template <typename T>
struct SimdOf;
template <>
struct SimdOf<float> {
  typedef float type __attribute__((vector_size(64)));
  typedef float unaligned __attribute__((vector_size(64), aligned(4), may_alias));
};
template <>
struct SimdOf<double> {
  typedef double type __attribute__((vector_size(64)));
  typedef double unaligned __attribute__((vector_size(64), aligned(8), may_alias));
};
template <typename T>
using Simd = typename SimdOf<T>::type;
template <typename T>
constexpr int64_t kLanes = 64 / sizeof(T);

template <typename T>
inline Simd<T> load(const T* p) {
  return *reinterpret_cast<const typename SimdOf<T>::unaligned*>(p);
}
template <typename T>
inline void store(T* p, Simd<T> v) {
  *reinterpret_cast<typename SimdOf<T>::unaligned*>(p) = v;
}

// Output channels per register block, and vectors of consecutive outputs per
// block: 8 x 3 = 24 of the 32 zmm registers accumulate, and each tap costs 3
// vector loads and 8 weight broadcasts for 24 FMAs, so the FMA units, not the
// loads, set the pace (measured ~95 % of one core's FMA peak on ResNet's
// 3 x 3). Blocks of 2 vectors run as fast and waste less where runs of
// outputs are short.
constexpr int kBlockChannels = 8;

// out[m][q] for m < kMR, q < kNV * kLanes = sum over taps k of
// packed_weight[k][m] * in[tap_offset[k] + q].
template <typename T, int kMR, int kNV>
void direct_block(const T* in, const int64_t* tap_offset, int64_t taps, const T* packed_weight, T* out,
                  int64_t out_ld) {
  Simd<T> acc[kMR][kNV] = {};
  for (int64_t k = 0; k < taps; ++k) {
    const T* window = in + tap_offset[k];
    Simd<T> pixels[kNV];
    for (int v = 0; v < kNV; ++v) pixels[v] = load(window + v * kLanes<T>);
    for (int m = 0; m < kMR; ++m) {
      const T w = packed_weight[k * kMR + m];
      for (int v = 0; v < kNV; ++v) acc[m][v] += w * pixels[v];
    }
  }
  // Fully unrolled, so acc stays in registers (GCC left this loop rolled and
  // kept acc on the stack: a memset and 24 spills per block).
#pragma GCC unroll 8
  for (int m = 0; m < kMR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) store(out + m * out_ld + v * kLanes<T>, acc[m][v]);
}

template <typename T, int kNV>
void run_block(int64_t mr, const T* in, const int64_t* tap_offset, int64_t taps, const T* packed_weight, T* out,
               int64_t out_ld) {
  switch (mr) {
    case 8: direct_block<T, 8, kNV>(in, tap_offset, taps, packed_weight, out, out_ld); break;
    case 4: direct_block<T, 4, kNV>(in, tap_offset, taps, packed_weight, out, out_ld); break;
    case 2: direct_block<T, 2, kNV>(in, tap_offset, taps, packed_weight, out, out_ld); break;
    default: direct_block<T, 1, kNV>(in, tap_offset, taps, packed_weight, out, out_ld);
  }
}

// Register blocks of a run of output channels: 8 at a time, the rest in 4, 2, 1.
inline int64_t block_channels(int64_t remaining) {
  return remaining >= kBlockChannels ? kBlockChannels : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}

// Weights of `channels` output channels, each a row of `taps` values, packed
// per register block as [tap][channel of the block], so a block's broadcasts
// walk memory in order; the block starting at channel co starts at co * taps.
template <typename T>
void pack_block_weights(const T* weight, int64_t channels, int64_t taps, T* packed) {
  for (int64_t co = 0, mr; co < channels; co += mr) {
    mr = block_channels(channels - co);
    const T* w = weight + co * taps;
    T* p = packed + co * taps;
    for (int64_t k = 0; k < taps; ++k)
      for (int64_t m = 0; m < mr; ++m) p[k * mr + m] = w[m * taps + k];
  }
}

// dst[0:count] = src[0:count], whole 64-byte lines of dst with streaming
// (non-temporal) stores: they skip the read-for-ownership of each line of the
// output and leave the caches to the inputs. The caller fences (_mm_sfence)
// before other threads may read dst.
template <typename T>
void stream_copy(T* dst, const T* src, int64_t count) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i < count && reinterpret_cast<uintptr_t>(dst + i) % 64 != 0; ++i) dst[i] = src[i];
  for (; i + kLanes<T> <= count; i += kLanes<T>)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
#endif
  for (; i < count; ++i) dst[i] = src[i];
}

// One vector to memory without the read-for-ownership of its line: p must be
// 64-byte aligned (a plain store without AVX-512).
template <typename T>
inline void stream_store(T* p, Simd<T> v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4)
    _mm512_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m512>(v));
  else
    _mm512_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m512d>(v));
#else
  store(p, v);
#endif
}

// dst[0:count] = a[0:count] + b[0:count] + bias (b may be null), in one pass;
// with `stream`, the whole 64-byte lines of dst through streaming stores.
template <typename T>
void store_sum(T* dst, const T* a, const T* b, T bias, int64_t count, bool stream) {
  int64_t c = 0;
  if (stream)
    for (; c < count && reinterpret_cast<uintptr_t>(dst + c) % 64 != 0; ++c) dst[c] = a[c] + (b ? b[c] : T(0)) + bias;
  const Simd<T> bias_v = Simd<T>{} + bias;
  for (; c + kLanes<T> <= count; c += kLanes<T>) {
    const Simd<T> v = load(a + c) + (b ? load(b + c) : Simd<T>{}) + bias_v;
    if (stream)
      stream_store(dst + c, v);
    else
      store(dst + c, v);
  }
  for (; c < count; ++c) dst[c] = a[c] + (b ? b[c] : T(0)) + bias;
}

inline void stream_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

}  // namespace cpu
}  // namespace kernel_arena
