"""lstm_cell in numba.cuda: the tiled GEMM of impls/numba_cuda_common.py for
the gate pre-activations, then one fused pass over the gates.

    gates = x @ w_ih^T + h @ w_hh^T        (B, 4H), one GEMM kernel over [x | h] and [w_ih | w_hh]
    h', c' = cell(gates + b_ih + b_hh, c)  one thread per (b, j), gate order i, f, g, o

The GEMM reads x, h and both weights where they are: the concatenations are
index arithmetic in its tile loads, never copies.  The gate pass adds both
biases, so it reads each pre-activation once and writes h' and c' once.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.registry import register

# Threads per block of the gate pass, along the hidden units (coalesced reads
# of each gate's row and of c); a small H gets one warp-rounded block.
THREADS = 256


@functools.cache
def _gate_kernel(dtype_name):
    update = common.cell_update(dtype_name)

    @cuda.jit
    def gate(gates, b_ih, b_hh, c, h_next, c_next):
        """Grid (hidden blocks, batch rows), grid-stride in both."""
        batch, hidden = c.shape
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for row in range(cuda.blockIdx.y, batch, cuda.gridDim.y):
            for j in range(start, hidden, cuda.gridDim.x * cuda.blockDim.x):
                zi = gates[row, j] + (b_ih[j] + b_hh[j])
                zf = gates[row, hidden + j] + (b_ih[hidden + j] + b_hh[hidden + j])
                zg = gates[row, 2 * hidden + j] + (b_ih[2 * hidden + j] + b_hh[2 * hidden + j])
                zo = gates[row, 3 * hidden + j] + (b_ih[3 * hidden + j] + b_hh[3 * hidden + j])
                h_next[row, j], c_next[row, j] = update(zi, zf, zg, zo, c[row, j])

    return gate


@register("lstm_cell", backend="numba_cuda", device="cuda")
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    batch, hidden = h.shape
    dtype = np.dtype(x.dtype)
    gates = cuda.device_array((batch, 4 * hidden), dtype)
    common.gemm_nt_pair(x, w_ih, h, w_hh, gates)
    h_next = cuda.device_array((batch, hidden), dtype)
    c_next = cuda.device_array((batch, hidden), dtype)
    threads = common.block_threads(hidden, THREADS)
    rows = min(batch, common.MAX_GRID_YZ)
    grid = (common.grid_blocks(hidden, threads, max(1, common.MAX_BLOCKS // rows)), rows)
    _gate_kernel(dtype.name)[grid, threads](gates, b_ih, b_hh, c, h_next, c_next)
    return h_next, c_next
