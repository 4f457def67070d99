"""box_iou: the IoU of every pair of two box sets."""

from __future__ import annotations

import numpy as np

from impls import boxes as _boxes
from impls import checks
from impls.registry import Case, OpSpec, register_spec


class BoxIouSpec(OpSpec):
    """box_iou(boxes1, boxes2) -> iou

    boxes1 (N, 4) and boxes2 (M, 4), x1, y1, x2, y2 with x1 <= x2 and
    y1 <= y2, float32 or float64 (the same dtype for both), finite.
    Returns iou (N, M) in that dtype: intersection / union, and 0 where the
    union is 0 (two zero-area boxes). N = 0 or M = 0 gives an empty (N, M).
    Reference: float64 NumPy.
    """

    name = "box_iou"
    inputs = ("boxes1", "boxes2")
    dtypes = ("float32", "float64")
    cases = tuple(
        Case(f"{n}x{n}", {"n": n, "m": n, "distribution": "detector"}, size=float(n * n), small=n <= 100)
        for n in (100, 1000, 4000)
    )

    def validate(self, boxes1, boxes2):
        boxes1 = _boxes.check_boxes("boxes1", boxes1)
        boxes2 = _boxes.check_boxes("boxes2", boxes2)
        checks.same_dtype(boxes1=boxes1, boxes2=boxes2)
        return {"boxes1": boxes1, "boxes2": boxes2}

    def reference(self, boxes1, boxes2):
        return _boxes.iou_matrix(boxes1, boxes2)

    def make_inputs(self, case, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        generate = _boxes.GENERATORS[case.params["distribution"]]
        boxes1, _ = generate(case.params["n"], rng)
        boxes2, _ = generate(case.params["m"], rng)
        return {"boxes1": boxes1.astype(dtype), "boxes2": boxes2.astype(dtype)}

    def flops(self, boxes1, boxes2):
        # Per pair: 2 max + 2 min + 2 sub for the overlap, 2 clamps, 1 mul for
        # the intersection, 1 add + 1 sub for the union, 1 div.  Areas are O(N+M).
        return 11.0 * len(boxes1) * len(boxes2) + 3.0 * (len(boxes1) + len(boxes2))

    def bytes_moved(self, boxes1, boxes2):
        item = boxes1.dtype.itemsize
        return item * (4 * (len(boxes1) + len(boxes2)) + len(boxes1) * len(boxes2))


SPEC = register_spec(BoxIouSpec())
