// CPU building blocks shared by the direct and Winograd convolutions (conv2d,
// causal_conv1d) and the streaming GEMVs of wavenet_stream: a 64-byte SIMD
// vector type, its loads and stores, per-thread scratch buffers kept between
// calls, exceptions out of OpenMP loops, streaming stores, and the
// register-blocked multiply-accumulate of a direct convolution over tap offsets.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace kernel_arena {
namespace cpu {

// Scratch per thread of a tiled kernel (input copy, column buffer, output
// band): with the weights it reads, it stays inside a Zen 4 core's 1 MiB L2.
constexpr int64_t kScratchBudgetBytes = 1 << 20;
// Outputs at least this large go to memory with streaming stores: a quarter
// of the 32 MiB L3, they (with the input as large or larger) would mostly be
// evicted before the next layer reads them anyway. Measured 3-12 % faster on
// conv2d's ResNeXt (26 MB) and depthwise (13 MB) outputs.
constexpr int64_t kStreamOutputBytes = int64_t(8) << 20;

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

// An exception must not leave an OpenMP region: the runtime would call
// std::terminate and abort the process (a scratch buffer's std::bad_alloc
// did). Each tile's body runs under run(); the first exception is kept and
// rethrown once the loop is over, where pybind11 turns it into a Python error.
class ParallelErrors {
 public:
  template <typename Body>
  void run(Body&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::mutex mutex_;
};

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

// The first `lanes` (<= kLanes) elements of p, the rest zero; and their store.
// Masked under AVX-512, so a run's last vector neither reads nor writes past it.
template <typename T>
inline Simd<T> load_partial(const T* p, int64_t lanes) {
  if (lanes == kLanes<T>) return load(p);
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4)
    return reinterpret_cast<Simd<T>>(_mm512_maskz_loadu_ps(__mmask16((1u << lanes) - 1), p));
  else
    return reinterpret_cast<Simd<T>>(_mm512_maskz_loadu_pd(__mmask8((1u << lanes) - 1), p));
#else
  Simd<T> v = {};
  for (int64_t i = 0; i < lanes; ++i) v[i] = p[i];
  return v;
#endif
}
template <typename T>
inline void store_partial(T* p, Simd<T> v, int64_t lanes) {
  if (lanes == kLanes<T>) return store(p, v);
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4)
    _mm512_mask_storeu_ps(p, __mmask16((1u << lanes) - 1), reinterpret_cast<__m512>(v));
  else
    _mm512_mask_storeu_pd(p, __mmask8((1u << lanes) - 1), reinterpret_cast<__m512d>(v));
#else
  for (int64_t i = 0; i < lanes; ++i) p[i] = v[i];
#endif
}

// The lanes of a vector load at src[pos] that lie in [0, width), bit i for
// src[pos + i]; and that load, zero in the other lanes, reading nothing
// outside them (pos may be negative: a row's left padding).
template <typename T>
inline uint32_t lanes_inside(int64_t pos, int64_t width) {
  const int64_t lo = std::clamp<int64_t>(-pos, 0, kLanes<T>), hi = std::clamp<int64_t>(width - pos, 0, kLanes<T>);
  return hi > lo ? ((uint32_t(1) << hi) - 1) & ~((uint32_t(1) << lo) - 1) : 0;
}
template <typename T>
inline Simd<T> load_lanes(const T* src, int64_t pos, uint32_t mask) {
#if defined(__AVX512F__)
  const void* at = reinterpret_cast<const char*>(src) + pos * int64_t(sizeof(T));
  if constexpr (sizeof(T) == 4)
    return reinterpret_cast<Simd<T>>(_mm512_maskz_loadu_ps(__mmask16(mask), at));
  else
    return reinterpret_cast<Simd<T>>(_mm512_maskz_loadu_pd(__mmask8(mask), at));
#else
  Simd<T> v = {};
  for (int64_t i = 0; i < kLanes<T>; ++i)
    if (mask >> i & 1) v[i] = src[pos + i];
  return v;
#endif
}

// zip: the lanes of a and b alternately, (a0 b0 a1 b1 ...) in lo and the
// upper halves' in hi; unzip, its inverse: the even lanes of (a, b) and the odd.
template <typename T>
inline void zip(Simd<T> a, Simd<T> b, Simd<T>& lo, Simd<T>& hi) {
  if constexpr (sizeof(T) == 4) {
    lo = __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    hi = __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  } else {
    lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
    hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
  }
}
template <typename T>
inline void unzip(Simd<T> a, Simd<T> b, Simd<T>& even, Simd<T>& odd) {
  if constexpr (sizeof(T) == 4) {
    even = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  } else {
    even = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
  }
}

// Polyphase split of a run: plane r of dst (planes plane_stride apart) gets
// dst[r * plane_stride + c] = src[phases * c + r] for r < phases and
// c < count; merge_phases is its inverse. One memcpy for a single phase,
// vectors through (un)zips for 2 and 4 (the last one partial, masked: rows
// shorter than a vector are common, 15 columns for the dilated ResNet
// layer), element by element otherwise.
template <typename T>
void split_phases(const T* src, int64_t phases, int64_t count, T* dst, int64_t plane_stride) {
  constexpr int64_t L = kLanes<T>;
  if (phases == 1) {
    std::memcpy(dst, src, count * sizeof(T));
    return;
  }
  if (phases != 2 && phases != 4) {
    for (int64_t c = 0; c < count; ++c)
      for (int64_t r = 0; r < phases; ++r) dst[r * plane_stride + c] = src[phases * c + r];
    return;
  }
  for (int64_t c = 0; c < count; c += L) {
    const int64_t lanes = std::min(L, count - c), have = phases * lanes;  // elements of src left
    const auto in = [&](int64_t k) {
      return load_partial(src + phases * c + k * L, std::clamp<int64_t>(have - k * L, 0, L));
    };
    Simd<T> out[4];
    if (phases == 2) {
      unzip<T>(in(0), in(1), out[0], out[1]);
    } else {
      Simd<T> e0, o0, e1, o1;
      unzip<T>(in(0), in(1), e0, o0);
      unzip<T>(in(2), in(3), e1, o1);
      unzip<T>(e0, e1, out[0], out[2]), unzip<T>(o0, o1, out[1], out[3]);
    }
    for (int64_t r = 0; r < phases; ++r) store_partial(dst + r * plane_stride + c, out[r], lanes);
  }
}
template <typename T>
void merge_phases(const T* src, int64_t plane_stride, int64_t phases, int64_t count, T* dst) {
  constexpr int64_t L = kLanes<T>;
  if (phases != 2 && phases != 4) {
    for (int64_t c = 0; c < count; ++c)
      for (int64_t r = 0; r < phases; ++r) dst[phases * c + r] = src[r * plane_stride + c];
    return;
  }
  const auto in = [&](int64_t r, int64_t c, int64_t lanes) { return load_partial(src + r * plane_stride + c, lanes); };
  for (int64_t c = 0; c < count; c += L) {
    const int64_t lanes = std::min(L, count - c), have = phases * lanes;  // elements of dst left
    Simd<T> out[4];
    if (phases == 2) {
      zip<T>(in(0, c, lanes), in(1, c, lanes), out[0], out[1]);
    } else {
      Simd<T> a0, a1, b0, b1;
      zip<T>(in(0, c, lanes), in(2, c, lanes), a0, a1);
      zip<T>(in(1, c, lanes), in(3, c, lanes), b0, b1);
      zip<T>(a0, b0, out[0], out[1]), zip<T>(a1, b1, out[2], out[3]);
    }
    for (int64_t k = 0; k < phases && k * L < have; ++k)
      store_partial(dst + phases * c + k * L, out[k], std::min(L, have - k * L));
  }
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
