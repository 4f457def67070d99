"""gated_unit in numba.cuda: one fused elementwise pass that reads x once and
writes out once.

x (N, 2C, L) is, per sample, two contiguous halves of C L values, a then b;
out (N, C, L) is one such half.  A grid-stride loop runs along the half
(consecutive threads, consecutive elements: every load and store coalesced),
the grid's y dimension over samples.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.registry import register

# 256 threads: 8 blocks fill an SM's 2048 threads; the op is memory-bound, so
# what matters is enough loads in flight, which the grid-stride loop keeps.
THREADS = 256


@functools.cache
def _kernel(dtype_name, kind):
    sigmoid, tanh = common.activations(dtype_name)
    gated_tanh = kind == "tanh"

    @cuda.jit
    def gate(x, out):
        """out[n, p] = tanh(a) sigmoid(b) (or a sigmoid(b)), a = x[n, p], b = x[n, C L + p], flat per sample."""
        plane = out.shape[1]
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        step = cuda.gridDim.x * cuda.blockDim.x
        for sample in range(cuda.blockIdx.y, out.shape[0], cuda.gridDim.y):
            for p in range(start, plane, step):
                a = x[sample, p]
                b = x[sample, plane + p]
                out[sample, p] = (tanh(a) if gated_tanh else a) * sigmoid(b)

    return gate


@register("gated_unit", backend="numba_cuda", device="cuda")
def gated_unit(x, kind):
    n, channels, length = x.shape
    dtype = np.dtype(x.dtype)
    plane = channels // 2 * length
    out = cuda.device_array((n, channels // 2, length), dtype)
    threads = common.block_threads(plane, THREADS)
    samples = min(n, common.MAX_GRID_YZ)
    grid = (common.grid_blocks(plane, threads, max(1, common.MAX_BLOCKS // samples)), samples)
    _kernel(dtype.name, kind)[grid, threads](x.reshape(n, channels * length), out.reshape(n, plane))
    return out
