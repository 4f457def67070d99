"""gated_unit in CuPy: one fused elementwise kernel (cupy_kernels.cu) per
kind, with the overflow-free sigmoid of impls/cupy_math.cuh."""

from pathlib import Path

from impls import cupy_support
from impls.cupy_support import THREADS, CudaSource, blocks, i64
from impls.registry import register

KERNELS = CudaSource(
    Path(__file__).with_name("cupy_kernels.cu"), ("gated_unit_kernel<{T}, true>", "gated_unit_kernel<{T}, false>")
)
_KIND_KERNELS = {"tanh": "gated_unit_kernel<{T}, true>", "glu": "gated_unit_kernel<{T}, false>"}


@register("gated_unit", backend="cupy", device="cuda")
def gated_unit(x, kind):
    cp = cupy_support.cupy()
    n, channels, length = x.shape
    out = cp.empty((n, channels // 2, length), dtype=x.dtype)
    plane = (channels // 2) * length
    total = n * plane
    if total == 0:  # the spec rejects empty dimensions; no kernel is launched on an empty grid regardless
        return out
    KERNELS.function(_KIND_KERNELS[kind], x.dtype)((blocks(total), 1, 1), (THREADS, 1, 1), (x, *i64(total, plane), out))
    return out
