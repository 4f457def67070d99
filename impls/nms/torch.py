"""nms in stock torchvision: the baseline."""

import torch
import torchvision

from impls.registry import register


@register("nms", backend="torch", device=("cpu", "cuda"))
def nms(boxes, scores, iou_threshold, score_threshold=None):
    if score_threshold is not None:
        candidates = torch.nonzero(scores > score_threshold).flatten()
        boxes, scores = boxes[candidates], scores[candidates]
    # torchvision's internal sort is not stable, so on equal scores it may keep
    # either box; the contract keeps the lower index first.  A stable sort and
    # distinct rank scores pin that order, for one extra sort.
    order = torch.sort(scores, descending=True, stable=True).indices
    ranks = torch.arange(len(order), 0, -1, dtype=boxes.dtype, device=boxes.device)
    kept = order[torchvision.ops.nms(boxes[order], ranks, iou_threshold)]
    return candidates[kept] if score_threshold is not None else kept
