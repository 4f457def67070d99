"""lstm_cell in CuPy: the two GEMMs in cuBLAS (cupy.matmul on the transposed
weight views, no copies), then one fused gate kernel (cupy_kernels.cu) that
adds both products and both biases and writes h' and c'."""

from pathlib import Path

from impls import cupy_support
from impls.cupy_support import THREADS, CudaSource, blocks, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("lstm_gates_kernel<{T}>",))


@register("lstm_cell", backend="cupy", device="cuda")
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    cp = cupy_support.cupy()
    batch, hidden = h.shape
    # New C-contiguous (B, 4H) arrays, as the kernel reads them.
    gates_x = cp.ascontiguousarray(cp.matmul(x, w_ih.T))
    gates_h = cp.ascontiguousarray(cp.matmul(h, w_hh.T))
    h_next = cp.empty((batch, hidden), dtype=h.dtype)
    c_next = cp.empty((batch, hidden), dtype=c.dtype)
    total = batch * hidden
    if total == 0:  # the spec rejects empty sizes; never launch an empty grid
        return h_next, c_next
    KERNELS.function("lstm_gates_kernel<{T}>", x.dtype)(
        (blocks(total), 1, 1), (THREADS, 1, 1), (gates_x, gates_h, b_ih, b_hh, c, *i64(total, hidden), h_next, c_next)
    )
    return h_next, c_next
