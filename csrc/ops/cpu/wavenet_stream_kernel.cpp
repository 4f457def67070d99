// wavenet_stream on the CPU: the whole time loop in one call, one step at a
// time, with the fast-wavenet rings of wavenet_stream.h.
//
// Per step and layer the work is a (2C x 2C) matrix-vector product on
// [x_l[t - d], x_l[t]] and the gate, so a step reads every weight once: with
// C = 64 and 20 layers that is 1.3 MB, more than one core's 1 MiB L2, and a
// single thread streams the weights from L3 on every step. So the threads
// split the stack into a pipeline: thread p runs a contiguous group of
// layers, with their weights packed once per call into its own core's L2, and
// hands x_l[t] on to the next thread through the ring of that thread's first
// layer -- which holds the past inputs that layer needs anyway, enlarged so
// the producer may run up to kSlack steps ahead. The threads meet once per
// step at most (a counter of steps done per stage, on atomics), not once per
// layer, and a thread that loses its core on this shared machine stalls its
// neighbours only once the slack is used up; a waiting thread spins, then
// sleeps on the counter (a futex): OpenMP's barrier would sleep at once under
// OMP_WAIT_POLICY=PASSIVE (which the suite sets), and waking costs far more
// than a layer's microsecond. Every stage runs every sample of the batch, so
// a layer's weights serve all samples from cache.
//
// The product runs as a sum of input-weighted weight rows (the weights packed
// as [input][row]), with a vector of rows per register, two accumulators per
// vector (even and odd inputs: FMA latency), and the bias folded into the
// first. The results do not depend on the thread count, bit for bit: each
// layer runs the same code whichever thread runs it.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "ops/cpu/direct_block.h"
#include "ops/wavenet_stream.h"

namespace kernel_arena {

namespace {

using namespace cpu;

// Steps a stage may run ahead of the next one: its last layer writes x_l[t]
// into a ring the next stage is still reading, kSlack steps behind at most.
constexpr int64_t kSlack = 32;
// Below this many multiply-adds per step (all layers and samples) one thread
// runs the whole stack: the hand-over (a counter and a ring slot crossing
// cores once per step) then weighs more against a step's work. Measured at
// C = 32, 20 layers (82K per step): with both cores free 0.59 ms per call on
// two threads against 0.86 ms on one; with another process holding a core,
// 1.15 ms against 0.96 ms. At C = 64 (328K): 1.9 against 3.8-4.0 ms, and
// 3.6-3.9 against 3.8-4.0 ms with a core held.
constexpr int64_t kPipelineMinWork = int64_t(1) << 16;
// Vectors of rows per pass of the product: with AVX-512, 8 x 2 accumulators
// + 8 weight loads fit the 32 zmm registers, and a pass over 128 rows (C = 64)
// reads each input's weights as one contiguous 512-byte run; elsewhere (AVX2:
// a 64-byte vector is two of the 16 ymm registers) 2.
#if defined(__AVX512F__)
constexpr int kMaxVectors = 8;
#else
constexpr int kMaxVectors = 2;
#endif
// Spins (each a PAUSE, ~35 ns on this machine: ~9 us in all) before a
// waiting thread goes to sleep: longer than a stage's step, but the thread it
// waits for may have lost its core for a scheduler slice, and spinning then
// only keeps it from getting one back. Measured on b1-c64-20layers with a
// busy loop holding one of the two cores: 3.9 ms per call, as fast as one
// thread alone (4.0 ms); spinning 8 times longer, 4.3 ms.
constexpr int kSpinsBeforeSleep = 1 << 8;

// The packed layout of one layer: h rows 0..C-1 are the filter rows, rows
// `half`..half+C-1 the gate rows, zeros between; `half` whole vectors. The
// rows go in chunks of up to kMaxVectors vectors, one pass of the product
// each; chunk [r0, r1) is stored as (2C inputs, r1 - r0) at 2C * r0, so a
// pass reads one contiguous run of weights.
template <typename T>
struct Layout {
  static constexpr int64_t kChunkRows = kMaxVectors * kLanes<T>;
  int64_t channels, half;
  int64_t rows() const { return 2 * half; }
  int64_t layer_size() const { return 2 * channels * rows(); }
  int64_t chunk_rows(int64_t r0) const { return std::min(kChunkRows, rows() - r0); }
  // Where weight (input i, h row r) of a layer goes.
  int64_t offset(int64_t i, int64_t r) const {
    const int64_t r0 = r / kChunkRows * kChunkRows;
    return 2 * channels * r0 + i * chunk_rows(r0) + (r - r0);
  }
};

template <typename T>
Layout<T> layout_of(int64_t channels) {
  return {channels, (channels + kLanes<T> - 1) / kLanes<T> * kLanes<T>};
}

// packed (layers l0..l1-1, Layout) and packed_bias (layers, rows); input
// i < C takes tap 0 (x_l[t - d]) of channel i, input C + i tap 1 (x_l[t]).
template <typename T>
void pack_layers(const T* weights, const T* biases, const Layout<T>& g, int64_t l0, int64_t l1, T* packed,
                 T* packed_bias) {
  const int64_t channels = g.channels, rows = g.rows();
  std::fill(packed, packed + (l1 - l0) * g.layer_size(), T(0));
  std::fill(packed_bias, packed_bias + (l1 - l0) * rows, T(0));
  for (int64_t l = l0; l < l1; ++l)
    for (int64_t row = 0; row < 2 * channels; ++row) {
      const int64_t r = row < channels ? row : g.half + row - channels;  // its place in h
      const T* w = weights + (l * 2 * channels + row) * channels * 2;  // (C, 2): [channel][tap]
      T* p = packed + (l - l0) * g.layer_size();
      for (int64_t i = 0; i < channels; ++i) {
        p[g.offset(i, r)] = w[2 * i];
        p[g.offset(channels + i, r)] = w[2 * i + 1];
      }
      packed_bias[(l - l0) * rows + r] = biases[l * 2 * channels + row];
    }
}

// acc0/acc1 += sum over inputs i of rows[i] * v[i * v_stride], even i into
// acc0 and odd into acc1.
template <typename T, int kNV>
inline void accumulate(const T* rows, int64_t row_stride, const T* v, int64_t v_stride, int64_t count,
                       Simd<T> (&acc0)[kNV], Simd<T> (&acc1)[kNV]) {
  int64_t i = 0;
  for (; i + 2 <= count; i += 2) {
    const T* w0 = rows + i * row_stride;
    const T* w1 = w0 + row_stride;
    const T v0 = v[i * v_stride], v1 = v[(i + 1) * v_stride];
#pragma GCC unroll 8
    for (int k = 0; k < kNV; ++k) {
      acc0[k] += load(w0 + k * kLanes<T>) * v0;
      acc1[k] += load(w1 + k * kLanes<T>) * v1;
    }
  }
  if (i < count) {
    const T* w0 = rows + i * row_stride;
#pragma GCC unroll 8
    for (int k = 0; k < kNV; ++k) acc0[k] += load(w0 + k * kLanes<T>) * v[i * v_stride];
  }
}

// h[r0 : r0 + kNV * lanes] of one layer, a chunk of the layout:
// bias + past rows . past + present rows . present.
template <typename T, int kNV>
inline void project_chunk(const T* chunk, const T* packed_bias, int64_t channels, const T* past, const T* present,
                          int64_t present_stride, int64_t r0, T* h) {
  constexpr int64_t width = kNV * kLanes<T>;
  Simd<T> acc0[kNV], acc1[kNV];
#pragma GCC unroll 8
  for (int k = 0; k < kNV; ++k) {
    acc0[k] = load(packed_bias + r0 + k * kLanes<T>);
    acc1[k] = Simd<T>{};
  }
  if (past) accumulate<T, kNV>(chunk, width, past, 1, channels, acc0, acc1);
  accumulate<T, kNV>(chunk + channels * width, width, present, present_stride, channels, acc0, acc1);
#pragma GCC unroll 8
  for (int k = 0; k < kNV; ++k) store(h + r0 + k * kLanes<T>, acc0[k] + acc1[k]);
}

template <typename T, int kNV>
inline void project_chunk_of(int64_t vectors, const T* chunk, const T* packed_bias, int64_t channels, const T* past,
                             const T* present, int64_t present_stride, int64_t r0, T* h) {
  if constexpr (kNV > 1) {
    if (vectors < kNV)
      return project_chunk_of<T, kNV - 1>(vectors, chunk, packed_bias, channels, past, present, present_stride, r0,
                                          h);
  }
  project_chunk<T, kNV>(chunk, packed_bias, channels, past, present, present_stride, r0, h);
}

// h[0 : rows] of one layer; past is null while t < d (padding).
template <typename T>
void project(const Layout<T>& g, const T* packed, const T* packed_bias, const T* past, const T* present,
             int64_t present_stride, T* h) {
  for (int64_t r0 = 0; r0 < g.rows(); r0 += Layout<T>::kChunkRows)
    project_chunk_of<T, kMaxVectors>(g.chunk_rows(r0) / kLanes<T>, packed + 2 * g.channels * r0, packed_bias,
                                     g.channels, past, present, present_stride, r0, h);
}

// One sample's stream, and where its state lives.
template <typename T>
struct Stream {
  const T* x;  // (C, steps)
  T* y;        // (C, steps)
  int64_t channels, steps, layers;
  const int64_t* dilations;
  const int64_t* capacity;     // slots per layer's ring
  const int64_t* ring_offset;  // first element of each layer's ring in `rings`
  T* rings;
};

// Layer l at step t: reads ring l (slots t and t - d; layer 0 reads x_0[t]
// from x itself, a column of stride `steps`), writes ring l + 1 (slot t) or
// y, and at l = 0 ring 0 (slot t). packed, packed_bias: this layer's; h:
// scratch of g.rows().
template <typename T>
void compute_layer(const Stream<T>& a, const Layout<T>& g, const T* packed, const T* packed_bias, T* h, int64_t t,
                   int64_t l) {
  const int64_t channels = a.channels, half = g.half;
  T* ring = a.rings + a.ring_offset[l];
  const int64_t capacity = a.capacity[l], d = a.dilations[l];
  const int64_t stride = l == 0 ? a.steps : 1;
  const T* present = l == 0 ? a.x + t : ring + wavenet_queue_slot(t, capacity) * channels;
  const T* past = t >= d ? ring + wavenet_queue_slot(t - d, capacity) * channels : nullptr;
  project(g, packed, packed_bias, past, present, stride, h);
#pragma omp simd
  for (int64_t c = 0; c < channels; ++c) h[c] = wavenet_residual_update(present[c * stride], h[c], h[half + c]);
  if (l + 1 < a.layers) {
    std::memcpy(a.rings + a.ring_offset[l + 1] + wavenet_queue_slot(t, a.capacity[l + 1]) * channels, h,
                channels * sizeof(T));
  } else {
    for (int64_t c = 0; c < channels; ++c) a.y[c * a.steps + t] = h[c];
  }
  if (l == 0) {
    T* saved = ring + wavenet_queue_slot(t, capacity) * channels;
    for (int64_t c = 0; c < channels; ++c) saved[c] = present[c * stride];
  }
}

// Steps done by one stage: written by its thread only, on a line of its own;
// 32-bit (a futex's width), compared modulo 2^32 (stages are never far apart).
struct alignas(64) Progress {
  std::atomic<uint32_t> steps{0};
};

inline void wait_for(std::atomic<uint32_t>& steps, uint32_t target) {
  for (int spins = 0;; ++spins) {
    const uint32_t seen = steps.load(std::memory_order_acquire);
    if (int32_t(seen - target) >= 0) return;
    if (spins < kSpinsBeforeSleep) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      steps.wait(seen, std::memory_order_acquire);
    }
  }
}

// Layers [l0, l1) of every stream, step by step. upstream: the stage that
// feeds layer l0 (null for the first); downstream: the stage fed by layer
// l1 - 1, which may be `lead` steps behind (null for the last).
template <typename T>
void run_stage(const std::vector<Stream<T>>& streams, const Layout<T>& g, int64_t l0, int64_t l1, const T* packed,
               const T* packed_bias, T* h, Progress* upstream, Progress* mine, Progress* downstream, int64_t lead) {
  const int64_t steps = streams[0].steps;
  for (int64_t t = 0; t < steps; ++t) {
    if (upstream) wait_for(upstream->steps, uint32_t(t + 1));
    if (downstream && t > lead) wait_for(downstream->steps, uint32_t(t - lead));
    for (int64_t l = l0; l < l1; ++l)
      for (const Stream<T>& stream : streams)
        compute_layer(stream, g, packed + (l - l0) * g.layer_size(), packed_bias + (l - l0) * g.rows(), h, t, l);
    if (mine) {
      mine->steps.store(uint32_t(t + 1), std::memory_order_release);
      mine->steps.notify_all();
    }
  }
}

}  // namespace

template <typename T>
void wavenet_stream_cpu_launch(const T* x, const T* weights, const T* biases, const int64_t* dilations, int64_t n,
                               int64_t channels, int64_t steps, int64_t layers, int64_t threads, T* y) {
  if (n == 0 || steps == 0) return;
  if (layers == 0) {
    std::memcpy(y, x, n * channels * steps * sizeof(T));
    return;
  }
  const Layout<T> g = layout_of<T>(channels);
  int stages = int(std::min<int64_t>(threads > 0 ? threads : omp_get_max_threads(), layers));
  if (threads == 0 && double(n) * double(layers) * 4.0 * double(channels) * double(channels) < kPipelineMinWork)
    stages = 1;

  // Storage for the rings of any team: a hand-over layer's capacity (above
  // its reach) at most doubles past reach + kSlack + 1, so 2 (capacity +
  // kSlack) bounds it. Sized with checked arithmetic and allocated here,
  // outside the parallel region, where an exception still reaches the caller.
  int64_t ring_bound = 0;
  bool overflow = false;
  for (int64_t l = 0; l < layers; ++l) {
    int64_t slots = 0;
    overflow |= __builtin_mul_overflow(2 * (wavenet_queue_capacity(dilations[l], steps) + kSlack), channels, &slots);
    overflow |= __builtin_add_overflow(ring_bound, slots, &ring_bound);
  }
  overflow |= __builtin_mul_overflow(ring_bound, n, &ring_bound);
  if (overflow || ring_bound > std::numeric_limits<int64_t>::max() / int64_t(sizeof(T)))
    throw std::invalid_argument("x and dilations: wavenet_stream's queues would pass 2^63 bytes");
  T* const ring_storage = thread_scratch<T, 6>(ring_bound);

  // Rings, per sample: layer l's holds capacity[l] slots of C values. A layer
  // that starts a stage gets kSlack more slots (see run_stage), decided once
  // the team is known.
  std::vector<int64_t> capacity(layers), ring_offset(layers + 1);
  std::vector<Stream<T>> streams(n);
  // Stage p runs layers [first_layer(p), first_layer(p + 1)).
  const auto first_layer = [&](int64_t p, int64_t team) { return layers * p / team; };
  const auto plan_rings = [&](int team) {
    std::vector<bool> hand_over(layers, false);
    for (int p = 1; p < team; ++p) hand_over[first_layer(p, team)] = true;
    ring_offset[0] = 0;
    for (int64_t l = 0; l < layers; ++l) {
      capacity[l] = wavenet_queue_capacity(dilations[l], steps);
      if (hand_over[l]) {
        const int64_t reach = dilations[l] < steps ? dilations[l] : 0;  // the oldest slot still read
        while (capacity[l] < reach + kSlack + 1) capacity[l] *= 2;
      }
      ring_offset[l + 1] = ring_offset[l] + capacity[l] * channels;
    }
    // Any content: a slot is read only after it is written.
    T* rings = ring_storage;
    for (int64_t s = 0; s < n; ++s)
      streams[s] = {x + s * channels * steps, y + s * channels * steps, channels, steps, layers, dilations,
                    capacity.data(), ring_offset.data(), rings + s * ring_offset[layers]};
  };
  // The steps a stage may run ahead of the stage that starts at layer l.
  const auto lead_into = [&](int64_t l) {
    const int64_t reach = dilations[l] < steps ? dilations[l] : 0;
    return capacity[l] - reach - 1;
  };

  if (stages <= 1) {
    plan_rings(1);
    T* packed = thread_scratch<T, 4>(layers * g.layer_size());
    T* packed_bias = thread_scratch<T, 5>(layers * g.rows());
    pack_layers(weights, biases, g, 0, layers, packed, packed_bias);
    run_stage(streams, g, 0, layers, packed, packed_bias, thread_scratch<T, 7>(g.rows()), nullptr, nullptr, nullptr,
              0);
    return;
  }
  std::unique_ptr<Progress[]> progress(new Progress[stages]);
#pragma omp parallel num_threads(stages)
  {
    // The team may be smaller than asked for: split over whoever came.
    const int team = omp_get_num_threads(), self = omp_get_thread_num();
#pragma omp single
    plan_rings(team);
    // Each thread packs its own layers into its own buffer: first touched,
    // and then kept, in its own core's caches.
    const int64_t l0 = first_layer(self, team), l1 = first_layer(self + 1, team);
    T* packed = thread_scratch<T, 4>((l1 - l0) * g.layer_size());
    T* packed_bias = thread_scratch<T, 5>((l1 - l0) * g.rows());
    pack_layers(weights, biases, g, l0, l1, packed, packed_bias);
    run_stage(streams, g, l0, l1, packed, packed_bias, thread_scratch<T, 7>(g.rows()),
              self > 0 ? &progress[self - 1] : nullptr, &progress[self],
              self + 1 < team ? &progress[self + 1] : nullptr, self + 1 < team ? lead_into(l1) : 0);
  }
}

template void wavenet_stream_cpu_launch<float>(const float*, const float*, const float*, const int64_t*, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, float*);
template void wavenet_stream_cpu_launch<double>(const double*, const double*, const double*, const int64_t*, int64_t,
                                                int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace kernel_arena
