"""nms in pure Python: each candidate, by decreasing score, against the boxes
already kept, stopping at the first that suppresses it."""

from impls.registry import register


@register("nms", backend="python")
def nms(boxes, scores, iou_threshold, score_threshold=None):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable: ties by index
    kept = []
    for i in order:
        if score_threshold is not None and not scores[i] > score_threshold:
            continue
        ax1, ay1, ax2, ay2 = boxes[i]
        area_a = (ax2 - ax1) * (ay2 - ay1)
        for k in kept:
            bx1, by1, bx2, by2 = boxes[k]
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = area_a + (bx2 - bx1) * (by2 - by1) - inter
            if union > 0 and inter / union > iou_threshold:
                break
        else:
            kept.append(i)
    return kept
