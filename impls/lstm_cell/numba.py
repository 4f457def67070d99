"""lstm_cell in Numba: the two GEMMs by NumPy's BLAS, then one fused pass over
the gates that reads each pre-activation once and writes h' and c' once.

The GEMMs stay outside njit because Numba's np.dot needs SciPy, which is not a
dependency; they go to the same BLAS either way.  The weights are not packed
into [W_ih | W_hh] for one GEMM: that copies every weight on every call (see
numpy.py for the measurement); the fused pass adds both GEMM outputs and both
biases instead."""

import numba
import numpy as np

from impls.numba_activations import sigmoid, tanh_sigmoid
from impls.registry import register

# error_model="numpy" and "contract": see impls/gated_unit/numba.py.
_JIT = dict(error_model="numpy", fastmath={"contract"})


@numba.njit(**_JIT)
def _gate_row(gates_x, gates_h, b_ih, b_hh, c, h_next, c_next):
    """One batch row: contiguous 1-D slices, a loop LLVM vectorises."""
    hidden = c.size
    for j in range(hidden):
        zi = gates_x[j] + gates_h[j] + (b_ih[j] + b_hh[j])
        zf = gates_x[hidden + j] + gates_h[hidden + j] + (b_ih[hidden + j] + b_hh[hidden + j])
        zg = gates_x[2 * hidden + j] + gates_h[2 * hidden + j] + (b_ih[2 * hidden + j] + b_hh[2 * hidden + j])
        zo = gates_x[3 * hidden + j] + gates_h[3 * hidden + j] + (b_ih[3 * hidden + j] + b_hh[3 * hidden + j])
        cell = sigmoid(zf) * c[j] + tanh_sigmoid(zg, zi)  # f * c + i * g
        c_next[j] = cell
        h_next[j] = tanh_sigmoid(cell, zo)  # o * tanh(c')


@numba.njit(**_JIT)
def _gate_pass(gates_x, gates_h, b_ih, b_hh, c, h_next, c_next):
    # Serial on purpose: right after a GEMM, BLAS's worker threads still spin
    # waiting for work, and on two cores a parallel pass fights them.  Measured
    # here, a prange version was slower at B64 and B256, where this pass is
    # 1-2% of the time anyway; at B1 waking threads costs more than the pass.
    for row in range(c.shape[0]):
        _gate_row(gates_x[row], gates_h[row], b_ih, b_hh, c[row], h_next[row], c_next[row])


@register("lstm_cell", backend="numba")
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates_x = x @ w_ih.T
    gates_h = h @ w_hh.T
    h_next, c_next = np.empty_like(h), np.empty_like(c)
    _gate_pass(gates_x, gates_h, b_ih, b_hh, c, h_next, c_next)
    return h_next, c_next
