"""box_iou in NumPy: broadcast N x M, the areas computed once per box."""

import numpy as np

from impls.registry import register


@register("box_iou", backend="numpy")
def box_iou(boxes1, boxes2):
    x1, y1, x2, y2 = (boxes1[:, i : i + 1] for i in range(4))  # (N, 1) columns
    u1, v1, u2, v2 = boxes2.T  # (M,) rows
    area1 = (x2 - x1) * (y2 - y1)
    area2 = (u2 - u1) * (v2 - v1)
    # Every op below writes into one (N, M) buffer: each fresh N x M array
    # costs a first-touch page fault per 4 KiB.
    inter = np.minimum(x2, u2)
    inter -= np.maximum(x1, u1)
    np.maximum(inter, 0, out=inter)
    h = np.minimum(y2, v2)
    h -= np.maximum(y1, v1)
    np.maximum(h, 0, out=h)
    inter *= h
    union = np.add(area1, area2, out=h)
    union -= inter
    # No clamp of inter to the union, which kernels a compiler may fuse into
    # FMAs need: every operation here rounds on its own (impls/boxes.py).
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(inter, union, out=inter, where=union > 0)
    inter[union <= 0] = 0
    return inter
