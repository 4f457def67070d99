"""Implementations of nms that fail in every way a new kernel can."""

import ctypes
import os
import time

import numba
import numpy as np

import impls


@impls.register("nms", backend="numpy", name="segfaults")
def segfaults(boxes, scores, iou_threshold, score_threshold=None):
    return ctypes.string_at(0)  # reads address 0


@impls.register("nms", backend="numpy", name="aborts")
def aborts(boxes, scores, iou_threshold, score_threshold=None):
    os.abort()


@impls.register("nms", backend="numpy", name="sleeps_forever")
def sleeps_forever(boxes, scores, iou_threshold, score_threshold=None):
    while True:
        try:
            time.sleep(1)
        except Exception:  # retries whatever interrupts it, the budget's alarm included
            pass


@numba.njit
def _spin(step):
    i = 0
    while i >= 0:  # never false: native code that no signal interrupts
        i = (i + step) % 1000
    return i


@impls.register("nms", backend="numba", name="hangs_in_native_code")
def hangs_in_native_code(boxes, scores, iou_threshold, score_threshold=None):
    _spin(1)


@impls.register("nms", backend="numpy", name="raises")
def raises(boxes, scores, iou_threshold, score_threshold=None):
    raise RuntimeError("kernel exploded")


@impls.register("nms", backend="numpy", name="wrong")
def wrong(boxes, scores, iou_threshold, score_threshold=None):
    return np.arange(len(scores), dtype=np.int64)


_answers = {}


@impls.register("nms", backend="numpy", name="stale_cache")
def stale_cache(boxes, scores, iou_threshold, score_threshold=None):
    # Right on the first input of each size; then that answer for any input of the size.
    if len(boxes) not in _answers:
        _answers[len(boxes)] = impls.get("nms", "numpy").fn(boxes, scores, iou_threshold, score_threshold)
    return _answers[len(boxes)]
