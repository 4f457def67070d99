"""box_iou in the project's extension: one fused pass over the shared pair math
(csrc/ops/box_iou.h), OpenMP rows on the CPU, one thread per pair on the GPU."""

from impls.backends.ext import ext_module
from impls.registry import register

_C = ext_module()


@register("box_iou", backend="ext", device=("cpu", "cuda"))
def box_iou(boxes1, boxes2):
    return _C.box_iou(boxes1, boxes2)
