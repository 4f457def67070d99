"""nms in CuPy: the 64-box bitmask scheme (cupy_kernels.cu) -- a stable sort
by decreasing score, a words x words grid of 64 x 64 pair tests writing
suppression bitmasks, and a one-block reduction on the device that walks the
boxes 64 at a time.  Only the kept flags' positions come back through
``flatnonzero``; the mask never leaves the GPU."""

from pathlib import Path

from impls import cupy_support
from impls.cupy_support import DYNAMIC_SHARED_BYTES, CudaSource, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("nms_mask_kernel<{T}>", "nms_reduce_kernel"))

BOXES_PER_WORD = 64  # kBoxesPerWord in cupy_kernels.cu
REDUCE_THREADS = 256  # the reduction's one block; must be >= BOXES_PER_WORD
# The reduction keeps one bit per box in dynamic shared memory: 6016 words,
# 385 024 boxes (whose mask alone would take 18.5 GB).
MAX_WORDS = DYNAMIC_SHARED_BYTES // 8
MAX_BOXES = MAX_WORDS * BOXES_PER_WORD


@register("nms", backend="cupy", device="cuda")
def nms(boxes, scores, iou_threshold, score_threshold=None):
    cp = cupy_support.cupy()
    if score_threshold is not None:
        # In the scores' dtype, as NumPy compares a float32 array with a Python float.
        candidates = cp.flatnonzero(scores > scores.dtype.type(score_threshold))
        keys = scores[candidates]
    else:
        candidates, keys = None, scores
    # cupy's argsort is stable: equal scores keep the lower index first.  0 - s
    # rather than -s, so that scores of +0.0 and -0.0 become the same key +0.0
    # (a radix sort on the bits would otherwise order them).
    order = cp.argsort(0 - keys)
    if candidates is not None:
        order = candidates[order]
    count = int(order.size)
    if count == 0:
        return cp.empty(0, dtype=cp.int64)
    words = (count + BOXES_PER_WORD - 1) // BOXES_PER_WORD
    if words > MAX_WORDS:
        raise ValueError(
            f"boxes has {count} boxes taking part; the cupy nms keeps one bit per box in shared memory and "
            f"handles at most {MAX_BOXES}"
        )
    sorted_boxes = cp.ascontiguousarray(boxes[order])
    mask = cp.empty((count, words), dtype=cp.uint64)
    keep = cp.empty(count, dtype=cp.uint8)
    dtype = boxes.dtype
    KERNELS.function("nms_mask_kernel<{T}>", dtype)(
        (words, words, 1), (BOXES_PER_WORD, 1, 1), (sorted_boxes, *i64(count), dtype.type(iou_threshold), mask)
    )
    KERNELS.function("nms_reduce_kernel", dtype)(
        (1, 1, 1), (REDUCE_THREADS, 1, 1), (mask, *i64(count), keep), shared_mem=words * 8
    )
    return order[cp.flatnonzero(keep)].astype(cp.int64, copy=False)
