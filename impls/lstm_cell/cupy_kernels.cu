// lstm_cell's gate pass on the GPU (CuPy): one thread per (batch row, hidden
// unit) reads the unit's four gate pre-activations from both GEMM outputs,
// adds both biases, and writes h' and c' (ka_lstm_update, impls/cupy_math.cuh).
// The GEMMs run in cuBLAS (cupy.matmul) from cupy.py; neither accumulates into
// the other, this pass adds them as it reads them.
#include "../cupy_math.cuh"

// gates_x = x @ w_ih^T and gates_h = h @ w_hh^T, each (batch, 4 * hidden), gate
// blocks in the order i, f, g, o; b_ih, b_hh (4 * hidden); c, h_next, c_next
// (batch, hidden). total = batch * hidden >= 1; grid-stride.
template <typename T>
__global__ void lstm_gates_kernel(const T* __restrict__ gates_x, const T* __restrict__ gates_h,
                                  const T* __restrict__ b_ih, const T* __restrict__ b_hh, const T* __restrict__ c,
                                  long long total, long long hidden, T* __restrict__ h_next, T* __restrict__ c_next) {
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long row = idx / hidden;
    const long long unit = idx - row * hidden;
    const T* gx = gates_x + row * 4 * hidden + unit;
    const T* gh = gates_h + row * 4 * hidden + unit;
    const T gate_i = gx[0] + gh[0] + (b_ih[unit] + b_hh[unit]);
    const T gate_f = gx[hidden] + gh[hidden] + (b_ih[hidden + unit] + b_hh[hidden + unit]);
    const T gate_g = gx[2 * hidden] + gh[2 * hidden] + (b_ih[2 * hidden + unit] + b_hh[2 * hidden + unit]);
    const T gate_o = gx[3 * hidden] + gh[3 * hidden] + (b_ih[3 * hidden + unit] + b_hh[3 * hidden + unit]);
    ka_lstm_update(gate_i, gate_f, gate_g, gate_o, c[idx], h_next + idx, c_next + idx);
  }
}
