"""box_iou: the IoU of every pair of two box sets."""

from __future__ import annotations

import numpy as np

from impls import boxes as _boxes
from impls import checks
from impls.boxes import INEXACT_BOXES
from impls.registry import Case, Comparison, OpSpec, register_spec


class BoxIouSpec(OpSpec):
    """box_iou(boxes1, boxes2) -> iou

    boxes1 (N, 4) and boxes2 (M, 4), x1, y1, x2, y2 with x1 <= x2 and
    y1 <= y2, float32 or float64 (the same dtype for both), finite, with
    |coordinates| <= 4.6e18 (float32; 3.4e153 in float64) and every area 0
    or >= 1e-31 (float32; 2**-970 in float64), where the dtype's arithmetic
    neither overflows nor underflows (impls/boxes.py); a ValueError naming
    the argument otherwise.
    Returns iou (N, M) in that dtype: intersection / union, and 0 where the
    union is 0 (two zero-area boxes); every value lies in [0, 1], whatever
    the rounding (an IoU above 1 is a wrong answer, however close: nms would
    suppress on it at a threshold of 1). N = 0 or M = 0 gives an empty (N, M).
    Reference: float64 NumPy.
    """

    name = "box_iou"
    inputs = ("boxes1", "boxes2")
    dtypes = ("float32", "float64")
    headline = ("4000x4000",)
    cases = tuple(
        Case(f"{n}x{n}", {"n": n, "m": n, "distribution": "detector"}, size=float(n * n), small=n <= 100)
        for n in (100, 1000, 4000)
    )

    def validate(self, boxes1, boxes2):
        boxes1 = _boxes.check_boxes("boxes1", boxes1)
        boxes2 = _boxes.check_boxes("boxes2", boxes2)
        checks.same_dtype(boxes1=boxes1, boxes2=boxes2)
        return {"boxes1": boxes1, "boxes2": boxes2}

    def edge_cases(self, dtype):
        f = lambda rows: np.array(rows, dtype=dtype).reshape(-1, 4)
        unit = [0, 0, 1, 1]
        return [
            ("empty-both", {"boxes1": f([]), "boxes2": f([])}),
            ("empty-first", {"boxes1": f([]), "boxes2": f([unit, [0, 0, 2, 2]])}),
            ("empty-second", {"boxes1": f([unit]), "boxes2": f([])}),
            ("one-box-self", {"boxes1": f([unit]), "boxes2": f([unit])}),
            ("identical", {"boxes1": f([[1, 2, 5, 7]] * 3), "boxes2": f([[1, 2, 5, 7]] * 2)}),
            ("disjoint-and-touching", {"boxes1": f([unit]), "boxes2": f([[1, 0, 2, 1], [3, 3, 4, 4]])}),
            ("containment", {"boxes1": f([[0, 0, 10, 10]]), "boxes2": f([[2, 2, 4, 4], [0, 0, 10, 5]])}),
            ("zero-area", {"boxes1": f([[1, 1, 1, 1], [0, 0, 2, 0], unit]), "boxes2": f([[1, 1, 1, 1], unit])}),
            ("negative-coordinates", {"boxes1": f([[-3, -3, -1, -1]]), "boxes2": f([[-2, -2, 0, 0]])}),
            # Sides and areas that no float is exact for: a union rounded (or
            # fused into an FMA) apart from the intersection gives IoU 1 + ulp.
            ("identical-inexact", {"boxes1": f(INEXACT_BOXES), "boxes2": f([*INEXACT_BOXES, [0.1, 0.2, 0.7, 0.3]])}),
        ]

    def bad_inputs(self):
        good = np.array([[0, 0, 1, 1]], dtype=np.float32)
        return [
            ("boxes1-wrong-rank", {"boxes1": good[0], "boxes2": good}, ValueError, "boxes1 must be 2-D"),
            (
                "boxes2-wrong-width",
                {"boxes1": good, "boxes2": np.zeros((2, 3), np.float32)},
                ValueError,
                "boxes2 must have shape \\(N, 4\\)",
            ),
            ("boxes1-int", {"boxes1": good.astype(np.int64), "boxes2": good}, TypeError, "boxes1 must have dtype"),
            (
                "mixed-dtypes",
                {"boxes1": good, "boxes2": good.astype(np.float64)},
                TypeError,
                "boxes2 must have the dtype of boxes1",
            ),
            (
                "boxes2-nan",
                {"boxes1": good, "boxes2": np.array([[0, 0, np.nan, 1]], np.float32)},
                ValueError,
                "boxes2 must be finite",
            ),
            (
                "boxes1-inverted",
                {"boxes1": np.array([[2, 0, 1, 1]], np.float32), "boxes2": good},
                ValueError,
                "boxes1 must satisfy x1 <= x2",
            ),
            ("boxes2-list", {"boxes1": good, "boxes2": [[0, 0, 1, 1]]}, TypeError, "boxes2 must be a numpy.ndarray"),
            (
                "boxes1-overflowing",
                {"boxes1": np.array([[-1e19, 0, 1e19, 1]], np.float32), "boxes2": good},
                ValueError,
                r"boxes1 must have coordinates within \+-4.61e\+18 in float32",
            ),
            (
                "boxes2-underflowing-area",
                {"boxes1": good, "boxes2": np.array([[0, 0, 1e-20, 1e-20]], np.float32)},
                ValueError,
                r"boxes2 must have areas of 0 or at least 9.86e-32 in float32",
            ),
        ]

    def reference(self, boxes1, boxes2):
        return _boxes.iou_matrix(boxes1, boxes2)

    def compare(self, output, expected, inputs):
        """Within tolerance of the reference, and every IoU in [0, 1]."""
        iou = np.asarray(output)
        if iou.size and not ((iou >= 0) & (iou <= 1)).all():
            worst = np.unravel_index(int(np.argmax(np.abs(iou - 0.5))), iou.shape)
            return Comparison(False, f"IoU {float(iou[worst])!r} at {tuple(int(i) for i in worst)} lies outside [0, 1]")
        return super().compare(output, expected, inputs)

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
