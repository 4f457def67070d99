"""nms in the project's extension: on the CPU a greedy sweep that tests each
candidate only against kept boxes sharing a grid cell with it; on the GPU the
64-box bitmask scheme with the final scan on the device (csrc/ops/nms*)."""

from impls.backends.ext import ext_module
from impls.registry import register

_C = ext_module()


@register("nms", backend="ext", device=("cpu", "cuda"))
def nms(boxes, scores, iou_threshold, score_threshold=None):
    return _C.nms(boxes, scores, iou_threshold, score_threshold)
