"""causal_conv1d in numba.cuda: a direct convolution, one thread per time step
and block of OUT_BLOCK output channels.

    y[n, o, t] = bias[o] + sum over i, j of weight[o, i, j] * x[n, i, t - (k-1-j) dilation]

A block's threads cover consecutive time steps of one sample and one block of
output channels: their x loads are consecutive (coalesced), the weights they
read are the same for the whole warp (a broadcast from cache), and each x
value loaded feeds OUT_BLOCK multiply-adds held in registers.  The causal
padding is never built: a tap whose sample lies before t = 0 is skipped.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.registry import register

# Output channels per thread: 8 accumulators in registers, so each x load
# feeds 8 FMAs (the WaveNet layer reads 64 x 2 inputs per 128 outputs).
OUT_BLOCK = 8
# Threads per block along time: 256 consecutive steps, 1 KiB of x per load
# in float32; a short sequence gets one warp-rounded block instead.
THREADS = 256


@functools.cache
def _kernel(dtype_name):
    item = common.numba_type(dtype_name)
    zero = np.dtype(dtype_name).type(0)

    @cuda.jit
    def conv(x, weight, bias, y, dilation):
        """Grid (time blocks, output-channel blocks, samples)."""
        cin, length = x.shape[1], x.shape[2]
        cout, k = weight.shape[0], weight.shape[2]
        sample = cuda.blockIdx.z
        o0 = cuda.blockIdx.y * OUT_BLOCK
        t = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        if t >= length:
            return
        acc = cuda.local.array(OUT_BLOCK, item)
        for q in range(OUT_BLOCK):
            acc[q] = zero
        for i in range(cin):
            for j in range(k):
                source = t - (k - 1 - j) * dilation
                if source >= 0:
                    v = x[sample, i, source]
                    for q in range(OUT_BLOCK):
                        if o0 + q < cout:
                            acc[q] += weight[o0 + q, i, j] * v
        for q in range(OUT_BLOCK):
            o = o0 + q
            if o < cout:
                y[sample, o, t] = acc[q] if bias is None else acc[q] + bias[o]

    return conv


@register("causal_conv1d", backend="numba_cuda", device="cuda")
def causal_conv1d(x, weight, bias, dilation):
    n, _, length = x.shape
    cout = weight.shape[0]
    dtype = np.dtype(x.dtype)
    if length == 0:
        return np.empty((n, cout, 0), dtype)
    y = cuda.device_array((n, cout, length), dtype)
    threads = common.block_threads(length, THREADS)
    out_blocks = common.cdiv(cout, OUT_BLOCK)
    if n > common.MAX_GRID_YZ or out_blocks > common.MAX_GRID_YZ:
        raise ValueError(f"x's batch ({n}) or weight's Cout ({cout}) exceeds the CUDA grid")
    grid = (common.cdiv(length, threads), out_blocks, n)
    _kernel(dtype.name)[grid, threads](x, weight, bias, y, dilation)
    return y
