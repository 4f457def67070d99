"""box_iou in CuPy: one fused kernel (cupy_kernels.cu), a tile of rows of
boxes1 staged in shared memory against one box of boxes2 per thread."""

from pathlib import Path

from impls import cupy_support
from impls.cupy_support import THREADS, CudaSource, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("box_iou_kernel<{T}>",))
ROWS_PER_TILE = 32  # kRowsPerTile in cupy_kernels.cu


@register("box_iou", backend="cupy", device="cuda")
def box_iou(boxes1, boxes2):
    cp = cupy_support.cupy()
    n, m = boxes1.shape[0], boxes2.shape[0]
    iou = cp.empty((n, m), dtype=boxes1.dtype)
    if n == 0 or m == 0:
        return iou
    # Column tiles on x (up to 2^31 - 1 of them); row tiles on y, grid-stride beyond its limit.
    row_tiles = (n + ROWS_PER_TILE - 1) // ROWS_PER_TILE
    grid = ((m + THREADS - 1) // THREADS, min(row_tiles, cupy_support.MAX_BLOCKS), 1)
    kernel = KERNELS.function("box_iou_kernel<{T}>", boxes1.dtype)
    kernel(grid, (THREADS, 1, 1), (boxes1, *i64(n), boxes2, *i64(m), iou))
    return iou
