// wavenet_stream on the CPU: the whole time loop in one call, one step at a
// time, with the fast-wavenet rings of wavenet_stream.h.
//
// Per step and layer the work is a (2C x 2C) matrix-vector product on
// [x_l[t - d], x_l[t]] and the gate, so a step reads every weight once: with
// C = 64 and 20 layers that is 1.3 MB, more than one core's 1 MiB L2, and a
// single thread streams the weights from L3 on every step. A batch of one
// therefore splits its channels over the threads: thread p owns channels
// [c0, c1) -- rows c and C + c of both taps, so each gate pair is local -- and
// keeps its share of the weights, packed once per call, in its own L2. All
// threads live in one parallel region for the whole call and wait for each
// other after every layer on atomics, spinning (see run_split): OpenMP's
// barrier sleeps at once under OMP_WAIT_POLICY=PASSIVE (which the suite
// sets), and waking costs far more than a layer's microsecond. Batches of two
// or more run their samples in parallel instead, each on one thread with all
// the weights.
//
// The product runs as a sum of input-weighted weight rows (the weights packed
// as [input][row]), with a vector of rows per register, two accumulators per
// vector (even and odd inputs: FMA latency), and the bias folded into the
// first. Every row sums in the same order whatever the split, so the results
// do not depend on the thread count, bit for bit.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "ops/cpu/direct_block.h"
#include "ops/wavenet_stream.h"

namespace kernel_arena {

namespace {

using namespace cpu;

// A batch of one splits its channels only when the weights are too large to
// stay in one core's L2 between steps.
constexpr int64_t kSplitMinWeightBytes = int64_t(1) << 19;
// Vectors of rows per pass of the product: 4 x 2 accumulators + 4 weight
// loads stay well inside the 32 zmm registers.
constexpr int kMaxVectors = 4;
// Spins (each a PAUSE, ~35 ns on this machine) before a thread waiting for
// a share that is being computed goes to sleep on its state word (a futex):
// a phase takes about a microsecond, but the computing thread may lose its
// core for a scheduler slice, and spinning would only keep it from getting
// one back.
constexpr int kSpinsBeforeSleep = 1 << 11;
// Spins before a share nobody has started is taken over: a few microseconds,
// more than the lag between two threads leaving the same phase.
constexpr int kSpinsBeforeTakeover = 1 << 7;

// One thread's channels [c0, c1) and the layout of its packed rows: filter
// rows c0..c1-1 at 0.., gate rows C + c0..C + c1-1 at `half`.., zeros between,
// `half` a whole number of vectors.
struct Share {
  int64_t c0, c1, half;
  int64_t width() const { return c1 - c0; }
  int64_t rows() const { return 2 * half; }
};

// Channels split in whole vectors: with C = 64 and two threads, 32 each.
template <typename T>
Share share_of(int64_t channels, int parts, int part) {
  const int64_t vectors = (channels + kLanes<T> - 1) / kLanes<T>;
  const int64_t v0 = vectors * part / parts, v1 = vectors * (part + 1) / parts;
  const int64_t c0 = std::min(channels, v0 * kLanes<T>), c1 = std::min(channels, v1 * kLanes<T>);
  return {c0, c1, (c1 - c0 + kLanes<T> - 1) / kLanes<T> * kLanes<T>};
}

// packed (layers, 2C inputs, rows) and packed_bias (layers, rows) of a share;
// input i < C takes tap 0 (x_l[t - d]) of channel i, input C + i tap 1 (x_l[t]).
template <typename T>
void pack_share(const T* weights, const T* biases, int64_t channels, int64_t layers, const Share& s, T* packed,
                T* packed_bias) {
  const int64_t rows = s.rows(), inputs = 2 * channels;
  std::fill(packed, packed + layers * inputs * rows, T(0));
  std::fill(packed_bias, packed_bias + layers * rows, T(0));
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t u = r % s.half;
      if (u >= s.width()) continue;
      const int64_t row = (r < s.half ? 0 : channels) + s.c0 + u;  // row of weights[l]
      const T* w = weights + (l * 2 * channels + row) * channels * 2;  // (C, 2): [channel][tap]
      T* p = packed + l * inputs * rows + r;
      for (int64_t i = 0; i < channels; ++i) {
        p[i * rows] = w[2 * i];
        p[(channels + i) * rows] = w[2 * i + 1];
      }
      packed_bias[l * rows + r] = biases[l * 2 * channels + row];
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
#pragma GCC unroll 4
    for (int k = 0; k < kNV; ++k) {
      acc0[k] += load(w0 + k * kLanes<T>) * v0;
      acc1[k] += load(w1 + k * kLanes<T>) * v1;
    }
  }
  if (i < count) {
    const T* w0 = rows + i * row_stride;
#pragma GCC unroll 4
    for (int k = 0; k < kNV; ++k) acc0[k] += load(w0 + k * kLanes<T>) * v[i * v_stride];
  }
}

// h[r0 : r0 + kNV * lanes] of one layer: bias + past rows . past + present rows . present.
template <typename T, int kNV>
inline void project_vectors(const T* packed, const T* packed_bias, int64_t rows, int64_t channels, const T* past,
                            const T* present, int64_t present_stride, int64_t r0, T* h) {
  Simd<T> acc0[kNV], acc1[kNV];
#pragma GCC unroll 4
  for (int k = 0; k < kNV; ++k) {
    acc0[k] = load(packed_bias + r0 + k * kLanes<T>);
    acc1[k] = Simd<T>{};
  }
  if (past) accumulate<T, kNV>(packed + r0, rows, past, 1, channels, acc0, acc1);
  accumulate<T, kNV>(packed + channels * rows + r0, rows, present, present_stride, channels, acc0, acc1);
#pragma GCC unroll 4
  for (int k = 0; k < kNV; ++k) store(h + r0 + k * kLanes<T>, acc0[k] + acc1[k]);
}

// h[0 : rows] for one layer of a share; past is null while t < d (padding).
template <typename T>
void project(const T* packed, const T* packed_bias, int64_t rows, int64_t channels, const T* past, const T* present,
             int64_t present_stride, T* h) {
  const int64_t vectors = rows / kLanes<T>;
  for (int64_t v = 0; v < vectors; v += kMaxVectors) {
    const int64_t r0 = v * kLanes<T>;
    const int64_t stride = present_stride;
    switch (std::min<int64_t>(kMaxVectors, vectors - v)) {
      case 4: project_vectors<T, 4>(packed, packed_bias, rows, channels, past, present, stride, r0, h); break;
      case 3: project_vectors<T, 3>(packed, packed_bias, rows, channels, past, present, stride, r0, h); break;
      case 2: project_vectors<T, 2>(packed, packed_bias, rows, channels, past, present, stride, r0, h); break;
      default: project_vectors<T, 1>(packed, packed_bias, rows, channels, past, present, stride, r0, h);
    }
  }
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

// Share s of the phase (t, l): reads ring l (slots t and t - d; layer 0 reads
// x_0[t] from x itself, a column of stride `steps`), writes the share's
// channels of ring l + 1 (slot t) or of y, and at l = 0 of ring 0 (slot t).
// h: scratch of s.rows().
template <typename T>
void compute_phase(const Stream<T>& a, const Share& s, const T* packed, const T* packed_bias, T* h, int64_t t,
                   int64_t l) {
  const int64_t channels = a.channels, rows = s.rows(), inputs = 2 * channels;
  const int64_t c0 = s.c0, width = s.width(), half = s.half;
  T* ring = a.rings + a.ring_offset[l];
  const int64_t capacity = a.capacity[l], d = a.dilations[l];
  const int64_t stride = l == 0 ? a.steps : 1;
  const T* present = l == 0 ? a.x + t : ring + wavenet_queue_slot(t, capacity) * channels;
  const T* past = t >= d ? ring + wavenet_queue_slot(t - d, capacity) * channels : nullptr;
  project(packed + l * inputs * rows, packed_bias + l * rows, rows, channels, past, present, stride, h);
#pragma omp simd
  for (int64_t u = 0; u < width; ++u)
    h[u] = wavenet_residual_update(present[(c0 + u) * stride], h[u], h[half + u]);
  if (l + 1 < a.layers) {
    T* next = a.rings + a.ring_offset[l + 1] + wavenet_queue_slot(t, a.capacity[l + 1]) * channels;
    std::memcpy(next + c0, h, width * sizeof(T));
  } else {
    for (int64_t u = 0; u < width; ++u) a.y[(c0 + u) * a.steps + t] = h[u];
  }
  if (l == 0) {
    T* saved = ring + wavenet_queue_slot(t, capacity) * channels;
    for (int64_t u = 0; u < width; ++u) saved[c0 + u] = present[(c0 + u) * stride];
  }
}

template <typename T>
void run_stream(const Stream<T>& a, const Share& s, const T* packed, const T* packed_bias, T* h) {
  for (int64_t t = 0; t < a.steps; ++t)
    for (int64_t l = 0; l < a.layers; ++l) compute_phase(a, s, packed, packed_bias, h, t, l);
}

// A stream split over threads: phase k = t * layers + l of every share must
// be done before any share starts phase k + 1 (phase k + 1 reads all channels
// that phase k wrote), and that is the only ordering needed (a phase writes
// only ring slots no one reads in that phase). Each share has a state word:
// 2k + 1 while its phase k is being computed, 2k + 2 once that is done.
//
// Each thread computes its own share of a phase, then waits until every
// share is done. Any thread may compute any share (the result does not depend
// on who does): a share still unclaimed after a short spin -- its owner lost
// its core on this shared machine -- is taken over, and from then on taken
// over at once until its owner shows up again. So a stream whose threads
// share one core runs at about the speed of one thread, instead of paying a
// context switch at every layer; and a thread that slept catches up by
// skipping the phases others did for it.
struct alignas(64) ShareState {
  std::atomic<uint32_t> value{0};  // compared modulo 2^32: shares are never far apart
};

template <typename T>
struct SplitStream {
  Stream<T> stream;
  int parts;
  const Share* shares;
  const T* const* packed;       // per share
  const T* const* packed_bias;  // per share
  ShareState* state;            // per share
};

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

template <typename T>
void run_split(const SplitStream<T>& sp, int self, T* h) {
  const int64_t layers = sp.stream.layers, phases = sp.stream.steps * layers;
  bool owner_away = false;  // the last share this thread waited for had to be taken over
  for (int64_t k = 0; k < phases;) {
    const uint32_t unclaimed = uint32_t(2 * k), claimed = unclaimed + 1, done = unclaimed + 2;
    const auto compute = [&](int s) {
      compute_phase(sp.stream, sp.shares[s], sp.packed[s], sp.packed_bias[s], h, k / layers, k % layers);
      sp.state[s].value.store(done, std::memory_order_release);
      sp.state[s].value.notify_all();
    };
    uint32_t expected = unclaimed;
    if (sp.state[self].value.compare_exchange_strong(expected, claimed, std::memory_order_acq_rel)) compute(self);
    // Phases done past k by every share: more than one when others did this thread's work.
    int64_t skip = phases;
    for (int s = 0; s < sp.parts; ++s) {
      std::atomic<uint32_t>& state = sp.state[s].value;
      for (int spins = 0;; ++spins) {
        uint32_t seen = state.load(std::memory_order_acquire);
        const int32_t progress = int32_t(seen - unclaimed);  // 0 unclaimed, 1 claimed, >= 2 done
        if (progress >= 2) {
          skip = std::min<int64_t>(skip, progress / 2);
          break;
        }
        if (progress == 1) {
          owner_away = false;  // someone is at work on it
          if (spins < kSpinsBeforeSleep)
            spin_pause();
          else
            state.wait(seen, std::memory_order_acquire);
          continue;
        }
        // Unclaimed (never this thread's own share: its claim above settled that).
        if (owner_away || spins >= kSpinsBeforeTakeover) {
          if (state.compare_exchange_strong(seen, claimed, std::memory_order_acq_rel)) {
            compute(s);
            owner_away = true;
            skip = std::min<int64_t>(skip, 1);
            break;
          }
          continue;
        }
        spin_pause();
      }
    }
    k += std::max<int64_t>(1, skip);
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
  std::vector<int64_t> capacity(layers), ring_offset(layers + 1, 0);
  for (int64_t l = 0; l < layers; ++l) {
    capacity[l] = wavenet_queue_capacity(dilations[l], steps);
    ring_offset[l + 1] = ring_offset[l] + capacity[l] * channels;
  }
  const int64_t ring_size = ring_offset[layers];
  const int64_t weight_bytes = layers * 4 * channels * channels * int64_t(sizeof(T));
  const int64_t vectors = (channels + kLanes<T> - 1) / kLanes<T>;
  const int64_t max_threads = threads > 0 ? threads : omp_get_max_threads();

  if (n == 1) {
    // Split the channels, or run on the calling thread (no parallel region).
    int parts = int(std::min(max_threads, vectors));
    if (threads == 0 && weight_bytes < kSplitMinWeightBytes) parts = 1;
    T* rings = thread_scratch<T, 6>(ring_size);  // any content: a slot is read only after it is written
    const Stream<T> stream{x, y, channels, steps, layers, dilations, capacity.data(), ring_offset.data(), rings};
    if (parts <= 1) {
      const Share s = share_of<T>(channels, 1, 0);
      T* packed = thread_scratch<T, 4>(layers * 2 * channels * s.rows());
      T* packed_bias = thread_scratch<T, 5>(layers * s.rows());
      pack_share(weights, biases, channels, layers, s, packed, packed_bias);
      run_stream(stream, s, packed, packed_bias, thread_scratch<T, 7>(s.rows()));
      return;
    }
    std::vector<Share> shares(parts);
    std::vector<const T*> packed(parts), packed_bias(parts);
    std::unique_ptr<ShareState[]> state(new ShareState[parts]);
#pragma omp parallel num_threads(parts)
    {
      // The team may be smaller than asked for: split over whoever came.
      const int team = omp_get_num_threads(), self = omp_get_thread_num();
      for (int p = 0; p < team; ++p) shares[p] = share_of<T>(channels, team, p);
      // Each thread packs its own share into its own buffer: first touched,
      // and then kept, in its own core's caches.
      T* own = thread_scratch<T, 4>(layers * 2 * channels * shares[self].rows());
      T* own_bias = thread_scratch<T, 5>(layers * shares[self].rows());
      pack_share(weights, biases, channels, layers, shares[self], own, own_bias);
      packed[self] = own;
      packed_bias[self] = own_bias;
      // Anyone may compute any share: every share must be packed first.
#pragma omp barrier
      const SplitStream<T> split{stream, team, shares.data(), packed.data(), packed_bias.data(), state.get()};
      run_split(split, self, thread_scratch<T, 7>(share_of<T>(channels, 1, 0).rows()));
    }
    return;
  }

  // A batch: whole samples per thread, all channels each, the weights packed once.
  const Share all = share_of<T>(channels, 1, 0);
  T* packed = thread_scratch<T, 4>(layers * 2 * channels * all.rows());
  T* packed_bias = thread_scratch<T, 5>(layers * all.rows());
  pack_share(weights, biases, channels, layers, all, packed, packed_bias);
#pragma omp parallel num_threads(int(std::min(max_threads, n)))
  {
    T* rings = thread_scratch<T, 6>(ring_size);
    T* h = thread_scratch<T, 7>(all.rows());
#pragma omp for schedule(dynamic, 1)
    for (int64_t sample = 0; sample < n; ++sample) {
      const int64_t offset = sample * channels * steps;
      const Stream<T> stream{x + offset, y + offset, channels, steps, layers, dilations,
                             capacity.data(), ring_offset.data(), rings};
      run_stream(stream, all, packed, packed_bias, h);
    }
  }
}

template void wavenet_stream_cpu_launch<float>(const float*, const float*, const float*, const int64_t*, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, float*);
template void wavenet_stream_cpu_launch<double>(const double*, const double*, const double*, const int64_t*, int64_t,
                                                int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace kernel_arena
