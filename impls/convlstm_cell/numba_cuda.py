"""convlstm_cell in numba.cuda: the conv2d path, then one fused gate pass.

Per step of images: the conv2d im2col kernel reads cat(x, h) straight from x
and h (its two-source form: the concatenation and the zero padding are index
arithmetic), the tiled GEMM multiplies the (4Ch, (Cin + Ch) k k) weight
matrix by the columns and adds the bias, giving the gate pre-activations
(images, 4Ch, H W); the gate pass then reads each of them and c once and
writes h' and c' once (order i, f, g, o, as in lstm_cell).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.conv2d import numba_cuda as conv
from impls.registry import register

# Threads per block of the gate pass, along the pixels of one hidden channel
# (coalesced); a small image gets one warp-rounded block.
THREADS = 256


@functools.cache
def _gate_kernel(dtype_name):
    update = common.cell_update(dtype_name)

    @cuda.jit
    def gate(gates, c, n0, h_next, c_next):
        """gates (step, 4Ch, P) of images n0 ..; c, h_next, c_next (B, Ch, P).
        Grid (pixel blocks, hidden channels, images of the step), grid-stride in pixels and channels."""
        hidden, pixels = c.shape[1], c.shape[2]
        b = cuda.blockIdx.z
        image = n0 + b
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for ch in range(cuda.blockIdx.y, hidden, cuda.gridDim.y):
            for p in range(start, pixels, cuda.gridDim.x * cuda.blockDim.x):
                h_next[image, ch, p], c_next[image, ch, p] = update(
                    gates[b, ch, p], gates[b, hidden + ch, p], gates[b, 2 * hidden + ch, p],
                    gates[b, 3 * hidden + ch, p], c[image, ch, p],
                )

    return gate


@register("convlstm_cell", backend="numba_cuda", device="cuda")
def convlstm_cell(x, h, c, weight, bias, im2col_step=None):
    batch, _, height, width = x.shape
    hidden, channels, k = h.shape[1], weight.shape[1], weight.shape[2]
    pixels, rows = height * width, channels * k * k
    dtype = np.dtype(x.dtype)
    # The gate buffer shares the column buffer's budget.
    step = conv.images_per_step(batch, rows, pixels, dtype.itemsize,
                                extra_per_image=4 * hidden * pixels * dtype.itemsize, im2col_step=im2col_step)
    col = cuda.device_array((step, rows, pixels), dtype)
    gates = cuda.device_array((step, 4 * hidden, pixels), dtype)
    h_next = cuda.device_array(h.shape, dtype)
    c_next = cuda.device_array(c.shape, dtype)
    pad = k // 2
    threads = common.block_threads(pixels, THREADS)
    gate = _gate_kernel(dtype.name)
    for n0 in range(0, batch, step):
        s = min(step, batch - n0)
        conv.im2col(x, h, col, n0, s, (k, k), (1, 1), (pad, pad), (1, 1), height, width)
        common.gemm_batched(weight.reshape(-1), col.reshape(-1), gates.reshape(-1), bias,
                            4 * hidden, pixels, rows, 1, s, 0, 4 * hidden * pixels)
        channel_blocks = min(hidden, common.MAX_GRID_YZ)
        grid = (common.grid_blocks(pixels, threads, max(1, common.MAX_BLOCKS // (channel_blocks * s))),
                channel_blocks, s)
        gate[grid, threads](gates, c.reshape(batch, hidden, pixels), n0,
                            h_next.reshape(batch, hidden, pixels), c_next.reshape(batch, hidden, pixels))
    return h_next, c_next
