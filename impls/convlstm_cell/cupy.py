"""convlstm_cell in CuPy: the gates by the CuPy conv2d (im2col kernel +
cuBLAS) on cat(x, h) with 'same' padding and the bias, then one fused gate
kernel (cupy_kernels.cu) writing h' and c'."""

from pathlib import Path

from impls import cupy_support
from impls.conv2d.cupy import conv2d
from impls.cupy_support import THREADS, CudaSource, blocks, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("convlstm_gates_kernel<{T}>",))


@register("convlstm_cell", backend="cupy", device="cuda")
def convlstm_cell(x, h, c, weight, bias):
    cp = cupy_support.cupy()
    batch, hidden, height, width = h.shape
    k = weight.shape[2]
    stacked = cp.concatenate((x, h), axis=1)
    gates = conv2d(stacked, weight, bias, (1, 1), (k // 2, k // 2), (1, 1), 1)
    h_next = cp.empty(h.shape, dtype=h.dtype)
    c_next = cp.empty(c.shape, dtype=c.dtype)
    pixels = height * width
    total = batch * hidden * pixels
    if total == 0:  # the spec rejects empty sizes; never launch an empty grid
        return h_next, c_next
    KERNELS.function("convlstm_gates_kernel<{T}>", x.dtype)(
        (blocks(total), 1, 1), (THREADS, 1, 1), (gates, c, *i64(total, hidden, pixels), h_next, c_next)
    )
    return h_next, c_next
