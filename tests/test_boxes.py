"""The box ops' contract itself: the reference, the generators and the NMS
comparison rule."""

import numpy as np
import pytest
import torch
import torchvision

import impls
from impls import boxes


@pytest.mark.parametrize("case_name", ["detector-1000", "uniform-1000", "detector-5000"])
def test_nms_reference_equals_torchvision_on_distinct_scores(case_name):
    spec = impls.spec("nms")
    inputs = spec.make_inputs(spec.case(case_name), "float64")
    assert len(np.unique(inputs["scores"])) == len(inputs["scores"])
    expected = torchvision.ops.nms(torch.from_numpy(inputs["boxes"]), torch.from_numpy(inputs["scores"]), 0.5)
    np.testing.assert_array_equal(spec.reference(**inputs), expected.numpy())


def test_box_iou_reference_equals_torchvision_where_defined():
    rng = np.random.default_rng(3)
    a, _ = boxes.detector_boxes(300, rng)
    b, _ = boxes.uniform_boxes(200, rng)
    expected = torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(boxes.iou_matrix(a, b), expected, rtol=1e-12, atol=1e-15)


def test_iou_of_two_zero_area_boxes_is_zero_not_nan():
    point = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert boxes.iou_matrix(point, point)[0, 0] == 0.0


def test_detector_boxes_cluster_around_objects_and_uniform_boxes_do_not():
    rng = np.random.default_rng(0)
    detector, _ = boxes.detector_boxes(2000, rng)
    uniform, _ = boxes.uniform_boxes(2000, rng)
    overlapping = lambda b: ((boxes.iou_matrix(b, b) > 0.5).sum() - len(b)) / len(b)
    # A detector's proposals each overlap many others by IoU > 0.5; uniform boxes almost none.
    assert overlapping(detector) > 10 * max(overlapping(uniform), 0.1)
    for b in (detector, uniform):
        assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
        assert b.min() >= 0 and b.max() <= boxes.IMAGE_SIZE


def test_generators_are_seeded():
    spec = impls.spec("nms")
    first = spec.make_inputs(spec.case("detector-1000"), seed=7)
    again = spec.make_inputs(spec.case("detector-1000"), seed=7)
    other = spec.make_inputs(spec.case("detector-1000"), seed=8)
    np.testing.assert_array_equal(first["boxes"], again["boxes"])
    assert not np.array_equal(first["boxes"], other["boxes"])


def _two_boxes(iou_gap):
    """Two boxes whose IoU is threshold + iou_gap (threshold 0.5)."""
    # [0,0,3,1] and [s,0,3+s,1]: inter = 3 - s, union = 3 + s, IoU = (3 - s) / (3 + s).
    target = 0.5 + iou_gap
    shift = 3 * (1 - target) / (1 + target)
    b = np.array([[0, 0, 3, 1], [shift, 0, 3 + shift, 1]], dtype=np.float32)
    return {"boxes": b, "scores": np.array([0.9, 0.8], np.float32), "iou_threshold": 0.5, "score_threshold": None}


def test_nms_comparison_forgives_rounding_at_the_threshold_only():
    spec = impls.spec("nms")
    near = spec.validate(**_two_boxes(2e-7))  # float32 can round this IoU to either side of 0.5
    assert spec.compare(np.array([0], np.int64), spec.reference(**near), near).ok
    assert spec.compare(np.array([0, 1], np.int64), spec.reference(**near), near).ok
    far = spec.validate(**_two_boxes(0.01))  # clearly above: keeping box 1 is wrong
    verdict = spec.compare(np.array([0, 1], np.int64), spec.reference(**far), far)
    assert not verdict.ok and "box 1 was kept" in verdict.message


def test_nms_comparison_rejects_wrong_order_and_dtype():
    spec = impls.spec("nms")
    inputs = spec.validate(
        boxes=np.array([[0, 0, 1, 1], [5, 5, 6, 6]], np.float32),
        scores=np.array([0.2, 0.9], np.float32),
        iou_threshold=0.5,
    )
    expected = spec.reference(**inputs)
    np.testing.assert_array_equal(expected, [1, 0])
    assert not spec.compare(np.array([0, 1], np.int64), expected, inputs).ok
    assert not spec.compare(np.array([1, 0], np.int32), expected, inputs).ok
