// lstm_cell on the CPU: the gate pass after ATen's GEMMs, and for small
// batches the whole cell as fused matrix-vector products.
#include <algorithm>

#include "ops/lstm_cell.h"

namespace kernel_arena {

// Hidden units per task of the gate pass: long enough for full vectors and to
// amortise the loop set-up, short enough to split a B = 1 row across threads.
constexpr int64_t kGateTile = 256;
// Below this many elements the gate pass runs on the calling thread: waking
// the OpenMP team costs more than the work.
constexpr int64_t kGatePassParallelMin = 1 << 14;

template <typename T>
void lstm_gates_cpu_launch(const T* gates_x, const T* gates_h, const T* b_ih, const T* b_hh, const T* c,
                           int64_t batch, int64_t hidden, T* h_next, T* c_next) {
  const int64_t tiles_per_row = (hidden + kGateTile - 1) / kGateTile;
#pragma omp parallel for schedule(static) if (batch * hidden >= kGatePassParallelMin)
  for (int64_t tile = 0; tile < batch * tiles_per_row; ++tile) {
    const int64_t row = tile / tiles_per_row;
    const int64_t begin = (tile % tiles_per_row) * kGateTile, end = std::min(hidden, begin + kGateTile);
    const T* gx = gates_x + row * 4 * hidden;  // gate q of unit j at gx[q * hidden + j], likewise gh
    const T* gh = gates_h + row * 4 * hidden;
    const T* c_row = c + row * hidden;
    T* h_row = h_next + row * hidden;
    T* c_out = c_next + row * hidden;
#pragma omp simd
    for (int64_t j = begin; j < end; ++j) {
      T z[4];  // pre-activations i, f, g, o
      for (int q = 0; q < 4; ++q) {
        const int64_t r = q * hidden + j;
        z[q] = (gx[r] + gh[r]) + (b_ih[r] + b_hh[r]);
      }
      const LstmState<T> s = lstm_gate_update(z[0], z[1], z[2], z[3], c_row[j]);
      h_row[j] = s.h;
      c_out[j] = s.c;
    }
  }
}

// Hidden units per block of the fused GEMV: their pre-activations sit in a
// stack array so the gate update then runs as one vector loop.
constexpr int64_t kGemvBlock = 16;
// The GEMV path's stack arrays hold this many batch rows.
constexpr int64_t kGemvMaxRows = 8;
// Below this many multiply-adds the GEMV runs on the calling thread.
constexpr int64_t kGemvParallelMin = 1 << 15;

// The four gate rows of one hidden unit (rows j, H + j, 2H + j, 3H + j of w,
// `gate_stride` elements apart) against one vector, in one sweep: v is loaded
// once for four rows, and four independent accumulators hide the FMA latency.
template <typename T>
static inline void gate_dots(const T* w, int64_t gate_stride, const T* v, int64_t n, T& zi, T& zf, T& zg, T& zo) {
  const T* wi = w;
  const T* wf = w + gate_stride;
  const T* wg = wf + gate_stride;
  const T* wo = wg + gate_stride;
  T si = 0, sf = 0, sg = 0, so = 0;
#pragma omp simd reduction(+ : si, sf, sg, so)
  for (int64_t k = 0; k < n; ++k) {
    si += wi[k] * v[k];
    sf += wf[k] * v[k];
    sg += wg[k] * v[k];
    so += wo[k] * v[k];
  }
  zi += si;
  zf += sf;
  zg += sg;
  zo += so;
}

template <typename T>
void lstm_cell_gemv_cpu_launch(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh, const T* b_ih,
                               const T* b_hh, int64_t batch, int64_t input_size, int64_t hidden, T* h_next,
                               T* c_next) {
  const int64_t blocks = (hidden + kGemvBlock - 1) / kGemvBlock;
  // Static schedule: each thread gets the same hidden units on every call, so
  // its share of the weights stays in its own core's L2 between steps.
#pragma omp parallel for schedule(static) if (batch * 4 * hidden * (input_size + hidden) >= kGemvParallelMin)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t begin = block * kGemvBlock, width = std::min(kGemvBlock, hidden - begin);
    for (int64_t row0 = 0; row0 < batch; row0 += kGemvMaxRows) {
      const int64_t rows = std::min(kGemvMaxRows, batch - row0);
      T pre[kGemvMaxRows][4][kGemvBlock];  // pre-activations i, f, g, o of this block's units
      // Unit-major, rows inside: a unit's four weight rows stay in L1 across the batch rows.
      for (int64_t u = 0; u < width; ++u) {
        const int64_t j = begin + u;
        const T bi = b_ih[j] + b_hh[j], bf = b_ih[hidden + j] + b_hh[hidden + j];
        const T bg = b_ih[2 * hidden + j] + b_hh[2 * hidden + j], bo = b_ih[3 * hidden + j] + b_hh[3 * hidden + j];
        for (int64_t r = 0; r < rows; ++r) {
          T zi = bi, zf = bf, zg = bg, zo = bo;
          gate_dots(w_ih + j * input_size, hidden * input_size, x + (row0 + r) * input_size, input_size, zi, zf, zg,
                    zo);
          gate_dots(w_hh + j * hidden, hidden * hidden, h + (row0 + r) * hidden, hidden, zi, zf, zg, zo);
          pre[r][0][u] = zi;
          pre[r][1][u] = zf;
          pre[r][2][u] = zg;
          pre[r][3][u] = zo;
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t offset = (row0 + r) * hidden + begin;
#pragma omp simd
        for (int64_t u = 0; u < width; ++u) {
          const LstmState<T> s = lstm_gate_update(pre[r][0][u], pre[r][1][u], pre[r][2][u], pre[r][3][u], c[offset + u]);
          h_next[offset + u] = s.h;
          c_next[offset + u] = s.c;
        }
      }
    }
  }
}

template void lstm_gates_cpu_launch<float>(const float*, const float*, const float*, const float*, const float*,
                                           int64_t, int64_t, float*, float*);
template void lstm_gates_cpu_launch<double>(const double*, const double*, const double*, const double*, const double*,
                                            int64_t, int64_t, double*, double*);
template void lstm_cell_gemv_cpu_launch<float>(const float*, const float*, const float*, const float*, const float*,
                                               const float*, const float*, int64_t, int64_t, int64_t, float*, float*);
template void lstm_cell_gemv_cpu_launch<double>(const double*, const double*, const double*, const double*,
                                                const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                                double*, double*);

}  // namespace kernel_arena
