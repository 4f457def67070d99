"""box_iou in numba.cuda: one thread per output, the boxes of a block's tile
staged in shared memory.

A block computes a TILE_ROWS x TILE_COLS tile of the (N, M) output.  It first
loads its TILE_ROWS boxes of boxes1 and TILE_COLS boxes of boxes2 (with their
areas) into shared memory, so each box is read from global memory once per
tile instead of once per output; then every thread computes one IoU.  A
warp's 32 threads write 32 consecutive outputs of one row: the stores, which
are nearly all of the traffic, are coalesced.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.numba_cuda_common import maximum, minimum
from impls.registry import register

# A 32-column by 8-row block (256 threads): each warp stores one 128-byte
# row segment (float32), and a tile needs only 40 boxes staged for 256 outputs.
TILE_COLS = 32
TILE_ROWS = 8
_TILE_A = (TILE_ROWS, 5)  # x1, y1, x2, y2, area of each staged box
_TILE_B = (TILE_COLS, 5)


@functools.cache
def _kernel(dtype_name):
    item = common.numba_type(dtype_name)
    zero = np.dtype(dtype_name).type(0)

    @cuda.jit
    def box_iou(boxes1, boxes2, out):
        n, m = boxes1.shape[0], boxes2.shape[0]
        tile_a = cuda.shared.array(_TILE_A, item)
        tile_b = cuda.shared.array(_TILE_B, item)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row0 = cuda.blockIdx.y * TILE_ROWS
        col0 = cuda.blockIdx.x * TILE_COLS
        # Stage the tile's boxes: warp 0 those of boxes2, warp 1 those of boxes1.
        if ty == 0 and col0 + tx < m:
            x1, y1, x2, y2 = boxes2[col0 + tx, 0], boxes2[col0 + tx, 1], boxes2[col0 + tx, 2], boxes2[col0 + tx, 3]
            tile_b[tx, 0], tile_b[tx, 1], tile_b[tx, 2], tile_b[tx, 3] = x1, y1, x2, y2
            tile_b[tx, 4] = (x2 - x1) * (y2 - y1)
        if ty == 1 and tx < TILE_ROWS and row0 + tx < n:
            x1, y1, x2, y2 = boxes1[row0 + tx, 0], boxes1[row0 + tx, 1], boxes1[row0 + tx, 2], boxes1[row0 + tx, 3]
            tile_a[tx, 0], tile_a[tx, 1], tile_a[tx, 2], tile_a[tx, 3] = x1, y1, x2, y2
            tile_a[tx, 4] = (x2 - x1) * (y2 - y1)
        cuda.syncthreads()
        i, j = row0 + ty, col0 + tx
        if i < n and j < m:
            w = maximum(minimum(tile_a[ty, 2], tile_b[tx, 2]) - maximum(tile_a[ty, 0], tile_b[tx, 0]), zero)
            h = maximum(minimum(tile_a[ty, 3], tile_b[tx, 3]) - maximum(tile_a[ty, 1], tile_b[tx, 1]), zero)
            inter = w * h
            union = tile_a[ty, 4] + tile_b[tx, 4] - inter
            inter = minimum(inter, union)  # IoU <= 1 though NVVM contracts products into FMAs
            out[i, j] = inter / union if union > zero else zero

    return box_iou


@register("box_iou", backend="numba_cuda", device="cuda")
def box_iou(boxes1, boxes2):
    n, m = boxes1.shape[0], boxes2.shape[0]
    dtype = np.dtype(boxes1.dtype)
    if n == 0 or m == 0:
        return np.zeros((n, m), dtype)
    rows = common.cdiv(n, TILE_ROWS)
    if rows > common.MAX_GRID_YZ:
        raise ValueError(f"boxes1 has {n} boxes; this kernel's grid takes at most {common.MAX_GRID_YZ * TILE_ROWS}")
    out = cuda.device_array((n, m), dtype)
    _kernel(dtype.name)[(common.cdiv(m, TILE_COLS), rows), (TILE_COLS, TILE_ROWS)](boxes1, boxes2, out)
    return out
