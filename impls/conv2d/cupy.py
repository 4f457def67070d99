"""conv2d in CuPy: im2col + GEMM.  A grid-stride kernel (cupy_kernels.cu)
fills a bounded column buffer im2col_step images at a time; cuBLAS
(cupy.matmul) then multiplies each group's weights with each image's group
rows, writing straight into y, and the bias is added to that step's output.

The buffer is bounded as in the NumPy and Numba implementations, with a GPU
budget: COL_BUFFER_BYTES (64 MiB) of columns, so that a batch of small images
becomes one batched GEMM call while a large layer (ResNeXt's 2304 x 3136
columns per image, 29 MB in float32) still takes only a few images a step.
"""

from pathlib import Path

from impls import cupy_support
from impls.conv2d.spec import output_size
from impls.cupy_support import THREADS, CudaSource, blocks, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("im2col_kernel<{T}>",))
COL_BUFFER_BYTES = 64 << 20


@register("conv2d", backend="cupy", device="cuda")
def conv2d(x, weight, bias, stride, padding, dilation, groups, im2col_step=None):
    cp = cupy_support.cupy()
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    rows = cin * kh * kw
    if im2col_step is None:
        im2col_step = max(1, COL_BUFFER_BYTES // (rows * ho * wo * x.itemsize))
    step = min(im2col_step, n)

    col = cp.empty((step, rows, ho * wo), dtype=x.dtype)
    # Row (c * kh + i) * kw + j of an image's columns is row j + kw * (i + kh * (c % (Cin / groups)))
    # of group c // (Cin / groups): the same bytes viewed as (s, groups, K, Ho * Wo).
    col_groups = col.reshape(step, groups, rows // groups, ho * wo)
    weight_rows = weight.reshape(groups, cout // groups, rows // groups)
    y = cp.empty((n, cout, ho, wo), dtype=x.dtype)
    im2col = KERNELS.function("im2col_kernel<{T}>", x.dtype)
    geometry = i64(cin, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo)
    for n0 in range(0, n, step):
        s = min(step, n - n0)
        total = s * rows * ho * wo
        im2col((blocks(total), 1, 1), (THREADS, 1, 1), (x[n0 : n0 + s], *i64(total), *geometry, col))
        # (groups, Cout / groups, K) against (s, groups, K, Ho * Wo): one GEMM per
        # (image, group), batched by cuBLAS, written into this step's rows of y.
        y_step = y[n0 : n0 + s].reshape(s, groups, cout // groups, ho * wo)
        cp.matmul(weight_rows, col_groups[:s], out=y_step)
        if bias is not None:
            y_step += bias.reshape(groups, cout // groups, 1)
    return y
