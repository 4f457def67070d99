"""Kernel Arena implementations: one package per op, one file per backend.

import impls
impls.ops()                                  # op names
impls.spec("nms")                            # the op's contract
impls.implementations(op="nms", backend=None, device=None)

@impls.register("nms", backend="numba", device="cpu", name="nms_sweep")
def nms_sweep(boxes, scores, iou_threshold, score_threshold=None): ...
"""

from impls.registry import (
    Case,
    Comparison,
    Implementation,
    OpSpec,
    get,
    implementations,
    load_plugin,
    ops,
    register,
    register_spec,
    spec,
)

__all__ = [
    "Case",
    "Comparison",
    "Implementation",
    "OpSpec",
    "get",
    "implementations",
    "load_plugin",
    "ops",
    "register",
    "register_spec",
    "spec",
]
