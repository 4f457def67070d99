"""causal_conv1d in CuPy: a direct kernel (cupy_kernels.cu), one thread per
time step and block of four output channels, the causal padding skipped
rather than built."""

from pathlib import Path

from impls import cupy_support
from impls.cupy_support import THREADS, CudaSource, blocks, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("causal_conv1d_kernel<{T}>",))
OUT_BLOCK = 4  # kOutBlock in cupy_kernels.cu


@register("causal_conv1d", backend="cupy", device="cuda")
def causal_conv1d(x, weight, bias, dilation):
    cp = cupy_support.cupy()
    n, cin, length = x.shape
    cout, _, k = weight.shape
    y = cp.empty((n, cout, length), dtype=x.dtype)
    if length == 0:
        return y
    if bias is None:
        bias = cp.zeros(cout, dtype=x.dtype)
    rows = n * ((cout + OUT_BLOCK - 1) // OUT_BLOCK)
    grid = (blocks(length), min(rows, cupy_support.MAX_BLOCKS), 1)  # both grid-stride
    KERNELS.function("causal_conv1d_kernel<{T}>", x.dtype)(
        grid, (THREADS, 1, 1), (x, weight, bias, *i64(n, cin, cout, k, length, dilation), y)
    )
    return y
