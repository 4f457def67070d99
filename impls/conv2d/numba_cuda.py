"""conv2d in numba.cuda: im2col into a bounded column buffer, then the tiled
GEMM of impls/numba_cuda_common.py, one (image, group) product per grid z.

The column buffer holds ``step`` images' columns, (step, Cin kh kw, Ho Wo)
with the rows of one group contiguous, so group g of image b is a dense
(K, Ho Wo) block, K = Cin / groups kh kw.  ``step`` is as many images as fit
COL_BUFFER_BYTES.  The im2col kernel reads x directly (the zero padding is
index arithmetic, never a padded copy) and can read its channels from two
arrays, which is how convlstm_cell convolves cat(x, h) without building it.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.conv2d.spec import output_size
from impls.registry import register

# 32 MiB: the column buffer of one step stays in an H100's 50 MiB L2 while the
# GEMM reads it back, and it still holds several images of the benchmark
# layers (ResNet 64 x 3 x 3 at 56 x 56 is 7 MiB an image).  A larger buffer
# would only cut launches, each of which already covers millions of columns.
COL_BUFFER_BYTES = 32 << 20
# Threads per im2col block, along the output pixels (consecutive threads write
# consecutive columns and read x with stride sw).  256 keeps 8 blocks resident
# per SM; a small image gets one warp-rounded block instead.
IM2COL_THREADS = 256


@functools.cache
def _im2col_kernel(dtype_name):
    zero = np.dtype(dtype_name).type(0)

    @cuda.jit
    def im2col(x1, x2, col, n0, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo):
        """col[b, (c kh + i) kw + j, oh Wo + ow] = xpad[n0 + b, c, oh sh + i dh - ph, ow sw + j dw - pw]
        over b = blockIdx.z, rows blockIdx.y (grid-stride), pixels along x (grid-stride),
        where channel c reads x1 for c < C1 and x2[c - C1] beyond."""
        c1 = x1.shape[1]
        height, width = x1.shape[2], x1.shape[3]
        rows = col.shape[1]
        pixels = ho * wo
        b = cuda.blockIdx.z
        image = n0 + b
        for row in range(cuda.blockIdx.y, rows, cuda.gridDim.y):
            # The row's channel and tap are uniform across the block.
            channel = row // (kh * kw)
            i = row // kw % kh
            j = row % kw
            top = i * dh - ph
            left = j * dw - pw
            start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            for p in range(start, pixels, cuda.gridDim.x * cuda.blockDim.x):
                oh = p // wo
                ih = oh * sh + top
                iw = (p - oh * wo) * sw + left
                value = zero
                if 0 <= ih < height and 0 <= iw < width:
                    if channel < c1:
                        value = x1[image, channel, ih, iw]
                    else:
                        value = x2[image, channel - c1, ih, iw]
                col[b, row, p] = value

    return im2col


def images_per_step(n, rows, pixels, itemsize, groups=1, extra_per_image=0, im2col_step=None):
    """Images whose columns (plus ``extra_per_image`` bytes each) fit COL_BUFFER_BYTES;
    at least 1, at most n, and few enough for the GEMM's grid z (images x groups)."""
    if im2col_step is None:
        im2col_step = COL_BUFFER_BYTES // (rows * pixels * itemsize + extra_per_image)
    return max(1, min(im2col_step, n, common.MAX_GRID_YZ // groups))


def im2col(x1, x2, col, n0, s, kernel_size, stride, padding, dilation, ho, wo):
    """Fill col[:s] (a (step, rows, Ho Wo) device array) from images n0 .. n0 + s - 1."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    pixels = ho * wo
    threads = common.block_threads(pixels, IM2COL_THREADS)
    rows = col.shape[1]
    # Enough blocks for ~MAX_BLOCKS in all; each loops over its share of pixels and rows.
    grid_x = common.grid_blocks(pixels, threads, max(1, common.MAX_BLOCKS // (rows * s)))
    grid = (grid_x, min(rows, common.MAX_GRID_YZ), s)
    _im2col_kernel(np.dtype(col.dtype).name)[grid, threads](
        x1, x2, col, n0, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo
    )


@register("conv2d", backend="numba_cuda", device="cuda")
def conv2d(x, weight, bias, stride, padding, dilation, groups, im2col_step=None):
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    ho = output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = output_size(w, kw, stride[1], padding[1], dilation[1])
    pixels, rows = ho * wo, cin * kh * kw
    dtype = np.dtype(x.dtype)
    step = images_per_step(n, rows, pixels, dtype.itemsize, groups, im2col_step=im2col_step)

    y = cuda.device_array((n, cout, ho, wo), dtype)
    col = cuda.device_array((step, rows, pixels), dtype)
    for n0 in range(0, n, step):
        s = min(step, n - n0)
        im2col(x, x, col, n0, s, (kh, kw), stride, padding, dilation, ho, wo)
        common.gemm_batched(
            weight.reshape(-1), col.reshape(-1), y.reshape(-1), bias,
            cout // groups, pixels, rows // groups, groups, s * groups, n0 * cout * pixels, cout * pixels,
        )
    return y
