"""Box format, checks, IoU semantics and box generators shared by ``box_iou``
and ``nms`` (as torchvision's ``_box_inter_union`` serves its sibling ops).

Boxes are (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, so a box's area is
(x2 - x1) * (y2 - y1) >= 0.  The IoU of two boxes is
intersection / (area_a + area_b - intersection), and **0 where that union is
0** (two zero-area boxes): torchvision's 0/0 = NaN is not an answer.

Implementations compute IoU in the boxes' dtype, so ``check_boxes`` keeps
boxes where that arithmetic can give the float64 answer:

* every |coordinate| <= COORDINATE_LIMIT[dtype] = sqrt(max) / 4 (4.6e18 in
  float32, 3.4e153 in float64): widths stay below sqrt(max) / 2, areas below
  max / 4 and unions below max / 2, never inf (inf / inf = NaN);
* every area is 0 or >= AREA_LIMIT[dtype] = tiny / eps (2**-103 ~ 1e-31 in
  float32, 2**-970 in float64): a smaller area would underflow into the
  subnormals or to 0 in the dtype, and two such identical boxes would get
  IoU 0 instead of 1.  An intersection may still be a subnormal sliver: next
  to a union >= AREA_LIMIT, its rounding moves the IoU by under 1e-14.
"""

from __future__ import annotations

import numpy as np

from impls import checks

IMAGE_SIZE = 1024.0  # the generators' image is IMAGE_SIZE x IMAGE_SIZE pixels


# Boxes no float32 area is exact for, where a union rounded apart from the
# intersection (mixed precision, an FMA) shows as IoU != 1 with themselves:
# the first made numba's nms suppress its own copies at iou_threshold = 1 (the
# long fuzzing run), the second numba's box_iou report 1.0000001.
INEXACT_BOXES = ([-96.69447, 62.65405, 24.460588, 128.38261], [46.154045, -46.528976, 198.88397, 192.33414])

COORDINATE_LIMIT = {d: float(np.sqrt(np.finfo(d).max)) / 4 for d in ("float32", "float64")}
AREA_LIMIT = {d: float(np.finfo(d).tiny / np.finfo(d).eps) for d in ("float32", "float64")}


# IoU <= 1 in floating point, and so IoU > 1 never holds, wherever every
# operation rounds on its own in one dtype (NumPy, Python, Numba without
# fastmath): rounding is monotone, so inter = fl(w h) <= each area,
# fl(area_a + area_b) >= 2 inter and union = fl(that - inter) >= inter.
# Where a compiler may contract a product into a sum (an FMA: C++ under GCC's
# default, nvcc, NVRTC, NVVM) or precisions mix, that fails by an ulp for
# identical boxes, so those kernels clamp the intersection to the union.


def check_boxes(name: str, boxes) -> np.ndarray:
    boxes = checks.float_array(name, boxes, ndim=2, dtypes=("float32", "float64"))
    if boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as x1, y1, x2, y2; got {boxes.shape}")
    if not boxes.size:
        return boxes
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        bad = int(np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))[0])
        raise ValueError(f"{name} must satisfy x1 <= x2 and y1 <= y2; box {bad} is {boxes[bad].tolist()}")
    dtype = boxes.dtype.name
    limit = COORDINATE_LIMIT[dtype]
    if np.abs(boxes).max() > limit:
        bad = int(np.flatnonzero((np.abs(boxes) > limit).any(axis=1))[0])
        raise ValueError(f"{name} must have coordinates within +-{limit:.3g} in {dtype} (beyond, areas and unions "
                         f"overflow); box {bad} is {boxes[bad].tolist()}")
    # Areas in float64: exact for float32 boxes; for float64 ones an area that
    # underflows to 0 here does so in every float64 implementation alike.
    wide = boxes.astype(np.float64)
    area = (wide[:, 2] - wide[:, 0]) * (wide[:, 3] - wide[:, 1])
    tiny = (area > 0) & (area < AREA_LIMIT[dtype])
    if tiny.any():
        bad = int(np.flatnonzero(tiny)[0])
        raise ValueError(f"{name} must have areas of 0 or at least {AREA_LIMIT[dtype]:.3g} in {dtype} (smaller ones "
                         f"underflow); box {bad} is {boxes[bad].tolist()} with area {area[bad]:.3g}")
    return boxes


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float64 IoU of every pair (the reference; 0 where the union is 0)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _clip(boxes: np.ndarray) -> np.ndarray:
    boxes = np.clip(boxes, 0.0, IMAGE_SIZE)
    boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0])
    boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1])
    return boxes


def _from_centres(cx, cy, w, h) -> np.ndarray:
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _distinct_scores(quality: np.ndarray) -> np.ndarray:
    """Scores in (0, 1) ordered like ``quality`` and all distinct, even in
    float16 steps for small N and float32 for large N (the reference is
    defined on distinct scores; ties are tested separately)."""
    n = quality.size
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(quality, kind="stable")] = np.arange(n)
    return (ranks + 1.0) / (n + 1.0)


def detector_boxes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boxes as a detector emits them before NMS: clusters of jittered
    proposals around objects (about 100 per object, scored by how well they
    fit it) plus 20 % low-scoring background boxes."""
    n_background = n // 5
    n_proposals = n - n_background
    n_objects = max(1, n_proposals // 100)
    size = np.exp(rng.uniform(np.log(24), np.log(320), (n_objects, 2)))
    centre = rng.uniform(0, IMAGE_SIZE, (n_objects, 2))
    objects = _clip(_from_centres(centre[:, 0], centre[:, 1], size[:, 0], size[:, 1]))

    owner = rng.integers(0, n_objects, n_proposals)
    ow = objects[owner, 2] - objects[owner, 0]
    oh = objects[owner, 3] - objects[owner, 1]
    cx = (objects[owner, 0] + objects[owner, 2]) / 2 + rng.normal(0, 0.12, n_proposals) * ow
    cy = (objects[owner, 1] + objects[owner, 3]) / 2 + rng.normal(0, 0.12, n_proposals) * oh
    w = ow * np.exp(rng.normal(0, 0.2, n_proposals))
    h = oh * np.exp(rng.normal(0, 0.2, n_proposals))
    proposals = _clip(_from_centres(cx, cy, w, h))
    # Each proposal's IoU with its own object: the better it fits, the higher it scores.
    ix = np.clip(
        np.minimum(proposals[:, 2], objects[owner, 2]) - np.maximum(proposals[:, 0], objects[owner, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(proposals[:, 3], objects[owner, 3]) - np.maximum(proposals[:, 1], objects[owner, 1]), 0, None
    )
    inter = ix * iy
    area_p = (proposals[:, 2] - proposals[:, 0]) * (proposals[:, 3] - proposals[:, 1])
    fit = inter / np.maximum(area_p + ow * oh - inter, 1e-9)

    bw = np.exp(rng.uniform(np.log(8), np.log(256), (n_background, 2)))
    bc = rng.uniform(0, IMAGE_SIZE, (n_background, 2))
    background = _clip(_from_centres(bc[:, 0], bc[:, 1], bw[:, 0], bw[:, 1]))

    boxes = np.concatenate([proposals, background])
    quality = np.concatenate([fit + rng.normal(0, 0.1, n_proposals), rng.normal(-0.2, 0.1, n_background)])
    perm = rng.permutation(n)  # detectors emit boxes in no particular order
    return boxes[perm], _distinct_scores(quality[perm])


def uniform_boxes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boxes spread uniformly over the image, sides log-uniform in [16, 128]:
    few overlap, so nearly all are kept (the worst case for O(N * kept) NMS)."""
    centre = rng.uniform(0, IMAGE_SIZE, (n, 2))
    side = np.exp(rng.uniform(np.log(16), np.log(128), (n, 2)))
    boxes = _clip(_from_centres(centre[:, 0], centre[:, 1], side[:, 0], side[:, 1]))
    return boxes, _distinct_scores(rng.random(n))


GENERATORS = {"detector": detector_boxes, "uniform": uniform_boxes}
