"""nms in NumPy: the classic vectorised loop (Fast R-CNN's py_cpu_nms) --
keep the best remaining box, drop every remaining box it suppresses, repeat.
One iteration per kept box; all per-box work is vectorised."""

import numpy as np

from impls.registry import register


@register("nms", backend="numpy")
def nms(boxes, scores, iou_threshold, score_threshold=None):
    order = np.argsort(-scores, kind="stable")
    if score_threshold is not None:
        order = order[scores[order] > score_threshold]
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    kept = []
    while order.size:
        i, rest = order[0], order[1:]
        kept.append(i)
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = w * h
        union = area[i] + area[rest] - inter
        # inter > t * union is iou > t without dividing, and false where union = 0.
        order = rest[~(inter > iou_threshold * union)]
    return np.asarray(kept, dtype=np.int64)
