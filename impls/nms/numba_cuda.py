"""nms in numba.cuda: the 64-box bitmask scheme.

1. On the host: a stable argsort of -scores (equal scores keep the lower
   index first) and the score_threshold filter; the boxes are then gathered
   into that order on the device.
2. ``mask``: block (r, c) of a grid over 64-box tiles compares the 64 boxes of
   row tile r with the 64 of column tile c (staged in shared memory) and
   writes, for each row box i, one uint64 whose bit j says that i suppresses
   box 64 c + j (IoU > iou_threshold, only for later boxes: c >= r).
3. ``reduce``: one block walks the tiles in score order.  For tile b one
   thread scans its 64 boxes: box i is kept unless a kept box's bits cover it
   (the union so far, ``removed``, plus the bits of boxes kept earlier in this
   tile); then all threads OR the rows of the boxes just kept into the words
   of the later tiles, coalesced.  Two barriers per 64 boxes, and the serial
   part touches only bits held in registers and shared memory.

IoU > t is tested as inter > t * union: no division, and false where the
union is 0 (the spec's IoU 0), for t >= 0.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda, uint64

from impls import numba_cuda_common as common
from impls.numba_cuda_common import maximum, minimum
from impls.registry import register

TILE = 64  # boxes per mask tile: one bit each in a uint64 word
# Reduce block: up to 256 threads OR the kept rows into as many later words at
# once (N = 20 000 has 313 words) and stage a tile's 64 diagonal words.
REDUCE_THREADS = 256
GATHER_THREADS = 256
_TILE_BOXES = (TILE, 5)  # x1, y1, x2, y2, area of each staged column box


@functools.cache
def _kernels(dtype_name):
    item = common.numba_type(dtype_name)
    zero = np.dtype(dtype_name).type(0)

    @cuda.jit
    def gather(boxes, order, sorted_boxes):
        """sorted_boxes[r] = boxes[order[r]], one thread per box."""
        r = cuda.grid(1)
        if r < order.shape[0]:
            source = order[r]
            for q in range(4):
                sorted_boxes[r, q] = boxes[source, q]

    @cuda.jit
    def mask(boxes, iou_threshold, bits_out):
        """bits_out[i, c] bit j: sorted box i suppresses sorted box 64 c + j (> i)."""
        n = boxes.shape[0]
        row_tile, col_tile = cuda.blockIdx.y, cuda.blockIdx.x
        if col_tile < row_tile:  # only a higher-scoring box suppresses: that word is never read
            return
        tile = cuda.shared.array(_TILE_BOXES, item)
        t = cuda.threadIdx.x
        col0 = col_tile * TILE
        cols = minimum(TILE, n - col0)
        if t < cols:
            x1, y1, x2, y2 = boxes[col0 + t, 0], boxes[col0 + t, 1], boxes[col0 + t, 2], boxes[col0 + t, 3]
            tile[t, 0], tile[t, 1], tile[t, 2], tile[t, 3] = x1, y1, x2, y2
            tile[t, 4] = (x2 - x1) * (y2 - y1)
        cuda.syncthreads()
        i = row_tile * TILE + t
        if i >= n:
            return
        x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        area = (x2 - x1) * (y2 - y1)
        bits = uint64(0)
        for j in range(t + 1 if row_tile == col_tile else 0, cols):
            w = maximum(minimum(x2, tile[j, 2]) - maximum(x1, tile[j, 0]), zero)
            h = maximum(minimum(y2, tile[j, 3]) - maximum(y1, tile[j, 1]), zero)
            inter = w * h
            union = area + tile[j, 4] - inter
            # Clamped: with FMAs (NVVM's default) identical boxes could get a
            # union an ulp below their intersection, and suppress at t = 1.
            if minimum(inter, union) > iou_threshold * union:
                bits |= uint64(1) << uint64(j)
        bits_out[i, col_tile] = bits

    @cuda.jit
    def reduce(bits, n, removed, keep):
        """keep[i] = 1 if sorted box i survives; one block, ``removed`` (words,) scratch."""
        words = bits.shape[1]
        t, threads = cuda.threadIdx.x, cuda.blockDim.x
        diagonal = cuda.shared.array(TILE, uint64)  # tile b's rows, their bits within tile b
        kept_shared = cuda.shared.array(1, uint64)
        for w in range(t, words, threads):
            removed[w] = uint64(0)
        for r in range(t, TILE, threads):
            diagonal[r] = bits[r, 0] if r < n else uint64(0)
        for b in range(words):
            cuda.syncthreads()
            if t == 0:
                dead = removed[b]
                kept = uint64(0)
                for j in range(minimum(TILE, n - b * TILE)):
                    if (dead >> uint64(j)) & uint64(1) == uint64(0):
                        kept |= uint64(1) << uint64(j)
                        dead |= diagonal[j]
                kept_shared[0] = kept
            cuda.syncthreads()
            kept = kept_shared[0]
            row0 = b * TILE
            for w in range(b + 1 + t, words, threads):
                acc = removed[w]
                for j in range(TILE):
                    if (kept >> uint64(j)) & uint64(1):
                        acc |= bits[row0 + j, w]
                removed[w] = acc
            for r in range(t, minimum(TILE, n - row0), threads):
                keep[row0 + r] = (kept >> uint64(r)) & uint64(1)
            if b + 1 < words:
                # The next tile's diagonal words, read by thread 0 after the next barrier.
                for r in range(t, TILE, threads):
                    row = row0 + TILE + r
                    diagonal[r] = bits[row, b + 1] if row < n else uint64(0)

    return gather, mask, reduce


@register("nms", backend="numba_cuda", device="cuda")
def nms(boxes, scores, iou_threshold, score_threshold=None):
    dtype = np.dtype(boxes.dtype)
    empty = np.empty(0, np.int64)
    if boxes.shape[0] == 0:
        return empty
    host_scores = scores.copy_to_host()
    order = np.argsort(-host_scores, kind="stable")
    if score_threshold is not None:
        order = order[host_scores[order] > score_threshold]
    n = order.size
    if n == 0:
        return empty
    gather, mask, reduce = _kernels(dtype.name)
    sorted_boxes = cuda.device_array((n, 4), dtype)
    gather[common.cdiv(n, GATHER_THREADS), common.block_threads(n, GATHER_THREADS)](
        boxes, cuda.to_device(order), sorted_boxes
    )
    words = common.cdiv(n, TILE)
    if words > common.MAX_GRID_YZ:
        raise ValueError(f"boxes holds {n} boxes to compare; this kernel's grid takes at most {65535 * TILE}")
    bits = cuda.device_array((n, words), np.uint64)
    # A tile's rows are its threads: fewer than TILE only when all of n is.
    mask[(words, words), min(TILE, n)](sorted_boxes, dtype.type(iou_threshold), bits)
    keep = cuda.device_array(n, np.uint8)
    removed = cuda.device_array(words, np.uint64)
    reduce[1, common.block_threads(max(words, min(n, TILE)), REDUCE_THREADS)](bits, n, removed, keep)
    return order[keep.copy_to_host().astype(bool)]
