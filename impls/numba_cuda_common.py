"""Pieces shared by the numba.cuda kernels of several ops: launch sizes, the
gate activations, the LSTM cell update and a shared-memory tiled GEMM.

numba.cuda has no BLAS (cuBLAS is not reachable from it), so the matrix
products of conv2d, convlstm_cell and lstm_cell run in the GEMM kernels below.

Every kernel is built by a factory cached per dtype.  The factories exist
because a kernel's shared arrays need their element type when the kernel is
compiled, and because a literal such as ``1.0`` is float64 in Numba: float32
arithmetic that meets it is promoted to float64, which runs at a fraction of
the float32 rate on most GPUs.  So each factory closes over its dtype's
numba type and constants (Numba freezes closure variables as typed
constants).  ``@cuda.jit`` without a signature compiles on the first launch,
so importing this module compiles nothing and needs no GPU.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda
from numba.extending import register_jitable

# Launches that loop (grid-stride) cap their grid here: 4096 blocks of 256
# threads fill the 2048 resident threads of each of an H100's 132 SMs about
# four times over, enough to hide latency; more blocks only add scheduling.
MAX_BLOCKS = 4096
MAX_GRID_YZ = 65535  # CUDA's limit on gridDim.y and gridDim.z

# GEMM tiling: a 256-thread block computes a GEMM_BM x GEMM_BN tile of C,
# each thread a GEMM_RM x GEMM_RN register block of it, over K in steps of
# GEMM_BK staged in shared memory.  Each thread's outputs are spread with
# stride 16 (rows ty + 16 i, columns tx + 16 j): a warp's reads of the B tile
# are 16 consecutive words (no bank conflicts) and of the A tile 2 words
# (broadcasts).  Per step a thread does 4 x 4 = 16 FMAs for 8 shared loads,
# where one output per thread would do 1 FMA for 2.  Shared memory:
# 2 x 16 x 65 words, 8.3 KiB in float32, 16.6 KiB in float64.
GEMM_BM = 64
GEMM_BN = 64
GEMM_BK = 16
GEMM_RM = 4
GEMM_RN = 4
GEMM_THREADS = (GEMM_BN // GEMM_RN, GEMM_BM // GEMM_RM)  # (x: 16 columns, y: 16 rows) = 256 threads
# One padding word per shared-tile row: the transposing tile loads write a
# column of the tile per warp, which without it would hit one bank 16 times.
_PAD = 1
_LOADS = GEMM_BM * GEMM_BK // (GEMM_THREADS[0] * GEMM_THREADS[1])  # elements each thread stages per tile: 4
# Shared-array shapes must be compile-time constants: whole tuples, not sums in the kernel.
_A_TILE = (GEMM_BK, GEMM_BM + _PAD)
_B_TILE = (GEMM_BK, GEMM_BN + _PAD)
_ACC = (GEMM_RM, GEMM_RN)


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def block_threads(count: int, cap: int) -> int:
    """Threads for a 1-D block over ``count`` items: at most ``cap``, and no
    more than the items.  A small problem gets a small block rather than a
    mostly idle one (a block of 8 threads still takes one warp slot, as one
    of 32 would, but under the simulator every thread is a Python thread)."""
    return max(1, min(cap, count))


def grid_blocks(count: int, threads: int, cap: int = MAX_BLOCKS) -> int:
    """Blocks for ``count`` items of ``threads`` each, at most ``cap`` (the
    kernel's grid-stride loop covers the rest); at least 1."""
    return max(1, min(cap, cdiv(count, threads)))


def numba_type(dtype):
    return numba.from_dtype(np.dtype(dtype))


# The small per-element helpers are register_jitable rather than
# cuda.jit(device=True): compiled into the kernel alike on the GPU, but plain
# Python calls under the simulator, where a device-function call costs a swap
# of the cuda module (it made the simulated nms 5x slower).


# Two-argument min and max are written out: Numba 0.66 to 0.68 cannot compile
# the builtins for CUDA (numba/numba#10753, "Signature mismatch: 2 argument
# types given"), though the simulator runs them.  The inputs here are never NaN.
@register_jitable
def minimum(a, b):
    return a if a < b else b


@register_jitable
def maximum(a, b):
    return a if a > b else b


@functools.cache
def activations(dtype_name: str):
    """(sigmoid, tanh) device functions in ``dtype_name`` arithmetic.

    sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0, with
    e = exp(-|z|) in (0, 1]: exp never overflows, the denominator lies in
    [1, 2], and both tails keep full relative accuracy (sigmoid(-80) is
    1.8e-35, not 0).  tanh is libdevice's (``math.tanh``), accurate to a couple
    of ulps across the range and exactly +-1 once saturated.
    """
    one = np.dtype(dtype_name).type(1)

    @register_jitable
    def sigmoid(z):
        e = math.exp(-abs(z))
        return (one if z >= 0 else e) / (one + e)

    @register_jitable
    def tanh(z):
        return math.tanh(z)

    return sigmoid, tanh


@functools.cache
def cell_update(dtype_name: str):
    """Device function (zi, zf, zg, zo, c) -> (h', c') of an LSTM cell, gate
    order i, f, g, o: c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c')."""
    sigmoid, tanh = activations(dtype_name)

    @register_jitable
    def update(zi, zf, zg, zo, c):
        c_next = sigmoid(zf) * c + sigmoid(zi) * tanh(zg)
        return sigmoid(zo) * tanh(c_next), c_next

    return update


@functools.cache
def gemm_kernels(dtype_name: str):
    """The GEMM kernels for one dtype (see ``gemm_batched`` and ``gemm_nt_pair``)."""
    item = numba_type(dtype_name)
    zero = np.dtype(dtype_name).type(0)
    bm, bn, bk, rm, rn = GEMM_BM, GEMM_BN, GEMM_BK, GEMM_RM, GEMM_RN
    tx_count, ty_count = GEMM_THREADS
    threads = tx_count * ty_count
    loads = _LOADS

    @cuda.jit(device=True)
    def multiply_tile(a_tile, b_tile, acc, ty, tx):
        """acc[i, j] += sum over kk of a_tile[kk, ty + 16 i] * b_tile[kk, tx + 16 j]."""
        a_frag = cuda.local.array(rm, item)
        b_frag = cuda.local.array(rn, item)
        for kk in range(bk):
            for i in range(rm):
                a_frag[i] = a_tile[kk, ty + i * ty_count]
            for j in range(rn):
                b_frag[j] = b_tile[kk, tx + j * tx_count]
            for i in range(rm):
                for j in range(rn):
                    acc[i, j] += a_frag[i] * b_frag[j]

    @cuda.jit
    def gemm_batched(a, b, c, bias, m, n, k, groups, c_base, c_image_stride):
        """C_z = A_{z mod groups} @ B_z (+ bias) for z = blockIdx.z, all flat C-order arrays:
        A_g (m, k) at a[g m k], B_z (k, n) at b[z k n], C_z (m, n) at
        c[c_base + (z // groups) c_image_stride + (z mod groups) m n], bias_g at bias[g m].

        This is conv2d's product: z runs over (image, group), A_g is group g's
        weight rows, B_z that image's and group's im2col columns, C_z its
        output channels (c_image_stride = Cout * Ho * Wo)."""
        a_tile = cuda.shared.array(_A_TILE, item)
        b_tile = cuda.shared.array(_B_TILE, item)
        acc = cuda.local.array(_ACC, item)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * tx_count + tx
        z = cuda.blockIdx.z
        group = z % groups
        a_off = group * m * k
        b_off = z * k * n
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bn
        # Threads of an edge tile whose outputs all fall outside C skip the
        # multiply (they still stage tiles and meet the barriers).
        active = row0 + ty < m and col0 + tx < n
        for i in range(rm):
            for j in range(rn):
                acc[i, j] = zero
        for k0 in range(0, k, bk):
            for q in range(loads):
                e = tid + q * threads
                # A tile: k fastest across the warp, so the loads run along A's rows.
                kk, mm = e % bk, e // bk
                row, col = row0 + mm, k0 + kk
                a_tile[kk, mm] = a[a_off + row * k + col] if row < m and col < k else zero
                # B tile: n fastest, along B's rows.
                nn, kk = e % bn, e // bn
                row, col = k0 + kk, col0 + nn
                b_tile[kk, nn] = b[b_off + row * n + col] if row < k and col < n else zero
            cuda.syncthreads()
            if active:
                multiply_tile(a_tile, b_tile, acc, ty, tx)
            cuda.syncthreads()
        c_off = c_base + (z // groups) * c_image_stride + group * m * n
        for i in range(rm):
            row = row0 + ty + i * ty_count
            if row < m:
                shift = zero if bias is None else bias[group * m + row]
                for j in range(rn):
                    col = col0 + tx + j * tx_count
                    if col < n:
                        c[c_off + row * n + col] = acc[i, j] + shift

    @cuda.jit
    def gemm_nt_pair(a1, b1, k1, a2, b2, k2, c, m, n):
        """C (m, n) = A1 @ B1^T + A2 @ B2^T with A1 (m, k1), B1 (n, k1), A2 (m, k2),
        B2 (n, k2), all 2-D C-order: the product over the concatenation
        [A1 | A2] @ [B1 | B2]^T without building it.  lstm_cell's gates:
        x @ w_ih^T + h @ w_hh^T."""
        a_tile = cuda.shared.array(_A_TILE, item)
        b_tile = cuda.shared.array(_B_TILE, item)
        acc = cuda.local.array(_ACC, item)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * tx_count + tx
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bn
        k = k1 + k2
        # Threads of an edge tile whose outputs all fall outside C skip the
        # multiply (they still stage tiles and meet the barriers).
        active = row0 + ty < m and col0 + tx < n
        for i in range(rm):
            for j in range(rn):
                acc[i, j] = zero
        for k0 in range(0, k, bk):
            for q in range(loads):
                e = tid + q * threads
                # Both tiles are read along their rows (k fastest across the warp)
                # and stored transposed, k-major, for multiply_tile.
                kk, mm = e % bk, e // bk
                col = k0 + kk
                row = row0 + mm
                value = zero
                if row < m:
                    if col < k1:
                        value = a1[row, col]
                    elif col < k:
                        value = a2[row, col - k1]
                a_tile[kk, mm] = value
                row = col0 + mm
                value = zero
                if row < n:
                    if col < k1:
                        value = b1[row, col]
                    elif col < k:
                        value = b2[row, col - k1]
                b_tile[kk, mm] = value
            cuda.syncthreads()
            if active:
                multiply_tile(a_tile, b_tile, acc, ty, tx)
            cuda.syncthreads()
        for i in range(rm):
            row = row0 + ty + i * ty_count
            if row < m:
                for j in range(rn):
                    col = col0 + tx + j * tx_count
                    if col < n:
                        c[row, col] = acc[i, j]

    return gemm_batched, gemm_nt_pair


def gemm_batched(a, b, c, bias, m, n, k, groups, batches, c_base, c_image_stride):
    """Launch ``gemm_batched`` over ``batches`` = images x groups products (flat device arrays)."""
    kernel = gemm_kernels(np.dtype(c.dtype).name)[0]
    if batches > MAX_GRID_YZ or cdiv(m, GEMM_BM) > MAX_GRID_YZ:
        raise ValueError(f"GEMM batch of {batches} products of {m} rows exceeds the CUDA grid")
    grid = (cdiv(n, GEMM_BN), cdiv(m, GEMM_BM), batches)
    kernel[grid, GEMM_THREADS](a, b, c, bias, m, n, k, groups, c_base, c_image_stride)


def gemm_nt_pair(a1, b1, a2, b2, c):
    """Launch ``gemm_nt_pair``: c = a1 @ b1.T + a2 @ b2.T (2-D device arrays)."""
    kernel = gemm_kernels(np.dtype(c.dtype).name)[1]
    m, n = c.shape
    if cdiv(m, GEMM_BM) > MAX_GRID_YZ:
        raise ValueError(f"GEMM of {m} rows exceeds the CUDA grid")
    grid = (cdiv(n, GEMM_BN), cdiv(m, GEMM_BM))
    kernel[grid, GEMM_THREADS](a1, b1, a1.shape[1], a2, b2, a2.shape[1], c, m, n)
