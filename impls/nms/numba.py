"""nms in Numba: a sorted sweep. Each candidate, by decreasing score, is tested
only against boxes already kept and stops at the first that suppresses it."""

import numba
import numpy as np

from impls.registry import register


@numba.njit(cache=True)
def _sweep(boxes, order, iou_threshold, zero):
    n = order.size
    kx1 = np.empty(n, boxes.dtype)
    ky1 = np.empty(n, boxes.dtype)
    kx2 = np.empty(n, boxes.dtype)
    ky2 = np.empty(n, boxes.dtype)
    karea = np.empty(n, boxes.dtype)
    kept = np.empty(n, np.int64)
    n_kept = 0
    for idx in range(n):
        i = order[idx]
        x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        area = (x2 - x1) * (y2 - y1)
        suppressed = False
        for k in range(n_kept):
            # All in the boxes' dtype (``zero`` too: an int 0 made w, h and
            # inter float64 beside float32 areas, and identical boxes then got
            # a union below their intersection, suppressed at t = 1).  Each
            # operation rounded on its own keeps inter <= union (impls/boxes.py).
            w = max(min(x2, kx2[k]) - max(x1, kx1[k]), zero)
            h = max(min(y2, ky2[k]) - max(y1, ky1[k]), zero)
            inter = w * h
            union = area + karea[k] - inter
            if inter > iou_threshold * union:  # iou > t; false where union = 0
                suppressed = True
                break
        if not suppressed:
            # Kept boxes packed contiguously, one array per coordinate: the
            # inner loop streams them.
            kx1[n_kept], ky1[n_kept], kx2[n_kept], ky2[n_kept] = x1, y1, x2, y2
            karea[n_kept] = area
            kept[n_kept] = i
            n_kept += 1
    return kept[:n_kept].copy()


@register("nms", backend="numba")
def nms(boxes, scores, iou_threshold, score_threshold=None):
    order = np.argsort(-scores, kind="stable")
    if score_threshold is not None:
        order = order[scores[order] > score_threshold]
    return _sweep(boxes, order, boxes.dtype.type(iou_threshold), boxes.dtype.type(0))
