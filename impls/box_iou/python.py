"""box_iou in pure Python: the definition, one pair at a time."""

import numpy as np

from impls.registry import register


@register("box_iou", backend="python")
def box_iou(boxes1, boxes2):
    result = []
    for ax1, ay1, ax2, ay2 in boxes1:
        area_a = (ax2 - ax1) * (ay2 - ay1)
        row = []
        for bx1, by1, bx2, by2 in boxes2:
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = area_a + (bx2 - bx1) * (by2 - by1) - inter
            row.append(inter / union if union > 0 else 0.0)
        result.append(row)
    if not boxes1:  # a list cannot say "0 rows of M": hand back the (0, M) shape explicitly
        return np.zeros((0, len(boxes2)))
    return result
