"""Input safety, property-based: every CPU implementation of every op, fed
random shapes, dtypes, memory layouts, NaN and inf, empty and long axes,
wrong ranks and wrong arguments (tests/property_strategies.py), either gives
the reference's answer or raises the contract's documented error -- a
ValueError or TypeError whose message names the offending argument -- and
never crashes, writes into its inputs or returns a wrong answer silently.

The native backends (ext, numba) run these properties in a child pytest
process, one per backend (test_native_backend_properties_in_child_process):
a segfault or abort there fails that test with the signal, the last input the
child was running and its output, instead of ending this run.  Their inputs
include arrays placed against an inaccessible page, so a read past either end
faults rather than passing unseen.  The child also calls the extension's
entry points directly with tensors the spec would have refused or repaired.

Hypothesis settings come from the profile (conftest.py): "ci" by default
(derandomized, no database); HYPOTHESIS_PROFILE=long or
--hypothesis-profile=long draws ten times as many examples.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from property_strategies import Example, bad_example, describe, ext_example, long_example, valid_example

import impls
from conftest import selected_implementations
from impls.boxes import INEXACT_BOXES

NATIVE_BACKENDS = ("ext", "numba")
# Set in a child process: the one native backend whose implementations it tests.
CHILD_BACKEND = os.environ.get("KA_PROPERTIES_CHILD", "")
FLIGHT_RECORDER = os.environ.get("KA_PROPERTIES_FLIGHT", "")


def scaled(examples: int) -> int:
    """``examples`` under the "ci" profile (max_examples=100), scaled with the active profile."""
    return max(1, round(examples * settings().max_examples / 100))


def _implementations(config, keep=lambda impl: True):
    """The selected CPU implementations this process tests: the non-native ones
    here, one native backend's in its child process."""
    chosen = []
    for impl in selected_implementations(config):
        if impl.device != "cpu" or not keep(impl):
            continue
        native = impl.backend in NATIVE_BACKENDS
        if (CHILD_BACKEND and impl.backend == CHILD_BACKEND) or (not CHILD_BACKEND and not native):
            chosen.append(impl)
    return chosen


def pytest_generate_tests(metafunc):
    config = metafunc.config
    if "impl" in metafunc.fixturenames:
        keep = (lambda impl: not impl.small_only) if metafunc.function.__name__.startswith("test_long") else (
            lambda impl: True)
        found = _implementations(config, keep)
        metafunc.parametrize("impl", found, ids=[impl.key for impl in found])
    for name in metafunc.fixturenames:  # "<op>_impl": that op's implementations; "ext_impl": the extension's
        op = name.removesuffix("_impl")
        if name.endswith("_impl") and (op == "ext" or op in impls.ops()):
            wanted = (lambda impl: impl.backend == "ext") if op == "ext" else (lambda impl, op=op: impl.op == op)
            found = _implementations(config, wanted)
            metafunc.parametrize(name, found, ids=[impl.key for impl in found])
    if "native_backend" in metafunc.fixturenames:
        selected = {impl.backend for impl in selected_implementations(config) if impl.device == "cpu"}
        metafunc.parametrize("native_backend", [b for b in NATIVE_BACKENDS if b in selected])


def _require(impl):
    if not impl.available:
        pytest.skip(impl.reason)


def _record(key: str, example: Example) -> None:
    """In a child process: the call about to run, for the parent to report if it crashes."""
    if FLIGHT_RECORDER:
        Path(FLIGHT_RECORDER).write_text(f"{key}: {example!r}\n")


def _names_one_of(message: str, names) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", message) for name in names)


def _kernel_must_not_run(**native):
    raise AssertionError(f"the implementation was called on input its contract refuses: {describe(native)}")


def check_example(impl, example: Example) -> None:
    """The property: ``impl.run`` gives the reference's answer on what the
    contract accepts, and the contract's error on what it refuses."""
    spec = impl.spec
    inputs = example.inputs
    hypothesis_run = currently_in_test_context()  # False in the plain regression tests
    if hypothesis_run:
        note(f"{example.what}: {describe(inputs)}")
    try:
        checked = spec.validate(**inputs)
    except Exception as exc:  # any type but ValueError/TypeError is itself a failure, reported below
        rejected = exc
    else:
        rejected = None

    if hypothesis_run:
        event(f"{'refused' if rejected is not None else 'accepted'} {example.what.split(' ')[0]}")
    if rejected is not None:
        assert isinstance(rejected, (ValueError, TypeError)), (
            f"validation raised {type(rejected).__name__}, not ValueError/TypeError: {rejected}")
        assert example.expect != "valid", f"the contract refused a valid input: {rejected}"
        assert isinstance(rejected, example.errors), (
            f"{example.what}: expected {' or '.join(e.__name__ for e in example.errors)}, "
            f"got {type(rejected).__name__}: {rejected}")
        assert _names_one_of(str(rejected), example.blame), (
            f"{example.what}: the message does not name {' or '.join(example.blame)}: {rejected}")
        # The implementation's own function stands in for "native code": run()
        # must raise the same error without ever calling it.
        guarded = dataclasses.replace(impl, fn=_kernel_must_not_run)
        with pytest.raises(type(rejected)) as raised:
            guarded.run(**inputs)
        assert str(raised.value) == str(rejected)
        return

    assert example.expect != "invalid", f"the contract accepted {example.what}"
    expected = spec.reference(**checked)
    before = {k: v.copy() for k, v in inputs.items() if isinstance(v, np.ndarray)}
    _record(impl.key, example)
    output = impl.run(**inputs)
    for name, copy in before.items():
        assert np.array_equal(inputs[name], copy, equal_nan=True), f"{impl.key} wrote into its input {name}"
    dtype = spec.output_dtype(checked)
    for out in output if isinstance(output, tuple) else (output,):
        assert isinstance(out, np.ndarray) and out.dtype == dtype, (
            f"output {type(out).__name__} of dtype {getattr(out, 'dtype', None)}, expected {dtype}")
    verdict = spec.compare(output, expected, checked)
    assert verdict.ok, verdict.message


# -- the properties, per implementation -------------------------------------------


@settings(max_examples=scaled(200))
@given(data=st.data())
def test_valid_input_gives_the_reference_answer(impl, data):
    """Random valid shapes (empty ones included), values and memory layouts."""
    _require(impl)
    check_example(impl, data.draw(valid_example(impl.op, small=impl.small_only), label="example"))


@settings(max_examples=scaled(150))
@given(data=st.data())
def test_bad_input_raises_the_documented_error(impl, data):
    """One defect at a time: the error names the argument, before any kernel runs."""
    _require(impl)
    check_example(impl, data.draw(bad_example(impl.op), label="example"))


@settings(max_examples=scaled(3))
@given(data=st.data())
def test_long_axis_gives_the_reference_answer(impl, data):
    """One axis of tens of thousands, a small total size."""
    _require(impl)
    check_example(impl, data.draw(long_example(impl.op), label="example"))


# -- regressions: inputs the properties found mishandled, kept as plain examples -----


def _check_valid(impl, **inputs):
    check_example(impl, Example(inputs))


def test_regression_valid_input_in_unusual_layouts(box_iou_impl):
    """test_valid_input_gives_the_reference_answer found: a big-endian array
    refused as "boxes2 must have the dtype of boxes1 (float32); got >f4" (and
    a Numba TypingError, a torch ValueError without the argument's name); a
    reversed length-1 array, which NumPy calls contiguous, refused by
    torch.from_numpy for its negative stride; a read-only array that made
    torch warn.  Validation now hands every backend native, aligned,
    C-contiguous arrays."""
    _require(box_iou_impl)
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 4]], np.float32)
    one = np.flip(np.array([[0.5, 0, 2, 1]], np.float32), axis=0)  # stride -16 on its one row
    read_only = boxes.copy()
    read_only.flags.writeable = False
    misaligned = np.frombuffer(b"\0" + boxes.tobytes(), np.float32, count=8, offset=1).reshape(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy discourages np.matrix; users still pass it
        matrix = np.asmatrix(boxes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_valid(box_iou_impl, boxes1=boxes.astype(">f4"), boxes2=boxes)
        _check_valid(box_iou_impl, boxes1=one, boxes2=misaligned)
        _check_valid(box_iou_impl, boxes1=matrix, boxes2=read_only)


def test_regression_masked_array_is_refused_naming_it(gated_unit_impl):
    """test_bad_input_raises_the_documented_error found: a masked array passed
    validation, its mask was ignored, and the NaN it hid reached the kernels
    (box_iou: NaN from numpy and torch, 0 from the others)."""
    _require(gated_unit_impl)
    x = np.ma.masked_array(np.array([[[np.nan], [1.0]]]), mask=[[[True], [False]]])
    with pytest.raises(TypeError, match=r"x must be a plain numpy.ndarray, not a masked array"):
        gated_unit_impl.run(x=x, kind="glu")


def test_regression_strides_past_the_input(conv2d_impl):
    """test_valid_input_gives_the_reference_answer found: a stride of 2**63 - 1
    or a dilation of 2**62 on a one-tap axis (valid: one output row, taps
    that read nothing) overflowed NumPy's as_strided (OverflowError), made
    oneDNN fail, and crashed the extension (std::bad_alloc in an OpenMP
    region: abort).  Validation now passes on the smallest stride with the
    same output."""
    _require(conv2d_impl)
    rng = np.random.default_rng(5)
    x, weight = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((2, 2, 2, 1))
    _check_valid(conv2d_impl, x=x, weight=weight, bias=None, stride=(2**63 - 1, 2**62), padding=(0, 7),
                 dilation=(1, 2**63 - 1), groups=1)
    _check_valid(conv2d_impl, x=x, weight=weight, bias=weight[:, 0, 0, 0].copy(), stride=2**40, padding=5,
                 dilation=1, groups=1)


def test_regression_dilation_past_the_sequence(causal_conv1d_impl):
    """test_valid_input_gives_the_reference_answer found: a dilation of 2**62
    (valid: the older taps read only padding) made torch pad by (k - 1) * 2**62
    ("Overflow when unpacking long long").  Validation now passes on
    min(dilation, L), which gives the same answer."""
    _require(causal_conv1d_impl)
    rng = np.random.default_rng(6)
    for dilation in (2**62, 2**64):
        _check_valid(causal_conv1d_impl, x=rng.standard_normal((1, 2, 5)), weight=rng.standard_normal((3, 2, 3)),
                     bias=None, dilation=dilation)


def test_regression_dilations_past_the_stream(wavenet_stream_impl):
    """test_valid_input_gives_the_reference_answer found: a dilation of 2**40
    made the queue variants allocate 2**40 steps of queue (MemoryError) and
    2**64 overflowed Numba's int64 arguments.  Validation now passes on
    min(dilation, T), which gives the same answer."""
    _require(wavenet_stream_impl)
    rng = np.random.default_rng(6)
    _check_valid(wavenet_stream_impl, x=rng.standard_normal((1, 2, 6)),
                 weights=0.5 * rng.standard_normal((2, 4, 2, 2)), biases=rng.standard_normal((2, 4)),
                 dilations=(2**40, 2**64))


def test_regression_gated_unit_magnitude_limit(gated_unit_impl):
    """test_valid_input_gives_the_reference_answer found: glu of a = 8.4e36,
    b = -5e4 gave 0.14 (numba) and 0.04 (ext) instead of 0 -- their float32 exp
    stops at exp(-87) ~ 1.6e-38, as stock torch's sigmoid flushes to 0 below
    the normal range -- and a * sigmoid(b) magnifies that by |a|.  The
    contract now takes |x| <= 2**100, where the error stays under 2e-8, and
    refuses larger values naming x."""
    _require(gated_unit_impl)
    for dtype, limit, tail in (("float32", 2.0**100, [-88.0, -100.0]), ("float64", 2.0**960, [-720.0, -740.0])):
        a, b = [limit, -limit, limit, 1.0], [-5e4, *tail, -limit]  # where sigmoid(b) is subnormal or 0
        _check_valid(gated_unit_impl, x=np.array([[a, b]], dtype).reshape(1, 2, 4), kind="glu")
        beyond = np.array([[[8.4e36 if dtype == "float32" else 1e300], [-5e4]]], dtype)
        with pytest.raises(ValueError, match=r"^x must have \|values\| <= "):
            gated_unit_impl.run(x=beyond, kind="glu")


def test_regression_score_threshold_between_two_floats(nms_impl):
    """test_valid_input_gives_the_reference_answer found: score_threshold =
    -2.2e-311 with a float32 score of -0.0: the pure-Python backend compared
    exactly and kept that box, every other compared in float32, where the
    threshold rounds to -0.0, and dropped it.  Validation now passes on the
    largest float32 at or below the threshold, on which both agree."""
    _require(nms_impl)
    boxes = np.array([[0, 0, 2, 3], [0, 4, 2, 6]], np.float32)
    _check_valid(nms_impl, boxes=boxes, scores=np.array([1.0, -0.0], np.float32), iou_threshold=0.0,
                 score_threshold=-2.225073858507e-311)
    _check_valid(nms_impl, boxes=boxes, scores=np.array([-3e38, 0.5], np.float32), iou_threshold=0.5,
                 score_threshold=-1e39)


def test_regression_nms_keeps_identical_boxes_at_threshold_one(nms_impl):
    """The long profile's test_valid_input_gives_the_reference_answer found:
    three copies of a box no float is exact for (a read-only, stride-0
    broadcast array), iou_threshold = 1: numba kept 1 box, the reference all
    3 -- its intersection came out in float64 beside float32 areas, so the
    union fell below it.  IoU of identical boxes is exactly 1, which a
    threshold of 1 never suppresses, whatever order the arithmetic runs in."""
    _require(nms_impl)
    boxes = np.broadcast_to(np.array(INEXACT_BOXES[0], np.float32), (3, 4))
    assert boxes.strides == (0, 4) and not boxes.flags.writeable
    scores = np.array([0.12573022, -0.13210486, 0.64042264], np.float32)
    _check_valid(nms_impl, boxes=boxes, scores=scores, iou_threshold=1.0)
    _check_valid(nms_impl, boxes=boxes.astype(np.float64), scores=scores.astype(np.float64), iou_threshold=1.0)
    kept = nms_impl.run(boxes=boxes, scores=scores, iou_threshold=1.0)
    assert kept.tolist() == [2, 0, 1]


def test_regression_box_iou_never_exceeds_one(box_iou_impl):
    """The same defect in box_iou: numba's float64 intersection over a union
    of float32 areas gave INEXACT_BOXES[1] an IoU of 1.0000001 with itself.  The spec's comparison now
    refuses any IoU outside [0, 1]."""
    _require(box_iou_impl)
    for box in reversed(INEXACT_BOXES):
        for dtype in ("float32", "float64"):
            boxes = np.broadcast_to(np.array(box, np.float32).astype(dtype), (3, 4))
            _check_valid(box_iou_impl, boxes1=boxes, boxes2=boxes)
            iou = box_iou_impl.run(boxes1=boxes, boxes2=boxes)
            assert (iou == 1).all(), iou


INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)


def _int64_extremes(op: str):
    """(inputs, the argument changed, what the contract does): every integer
    parameter of every op at int64's ends (and 2**62, where the contract draws
    a line), one at a time.  Ops missing here take no integer parameter."""
    rng = np.random.default_rng(16)
    a = lambda *shape: rng.uniform(-1, 1, shape).astype(np.float32)
    if op == "conv2d":
        base = {"x": a(1, 2, 5, 4), "weight": a(2, 1, 3, 2), "bias": a(2), "stride": 1, "padding": 1,
                "dilation": 1, "groups": 2}
        one_tap = {**base, "weight": a(2, 1, 1, 2)}  # kh = 1: any vertical dilation reads the same row
        return [
            (base, "stride", INT64_MAX, "answered"), (base, "stride", (1, INT64_MAX), "answered"),
            (base, "stride", INT64_MIN, "refused"),
            (base, "padding", INT64_MAX, "refused"), (base, "padding", (0, INT64_MAX), "refused"),
            (base, "padding", 2**61, "refused"), (base, "padding", INT64_MIN, "refused"),
            (base, "dilation", INT64_MAX, "refused"), (base, "dilation", (1, INT64_MAX), "refused"),
            (one_tap, "dilation", (INT64_MAX, 1), "answered"), (base, "dilation", INT64_MIN, "refused"),
            (base, "groups", INT64_MAX, "refused"), (base, "groups", INT64_MIN, "refused"),
            # The issue's input, with both its stride and its dilation at int64's end.
            ({"x": a(1, 1, 2, 1), "weight": a(1, 1, 2, 3), "bias": None, "stride": (INT64_MAX, INT64_MAX),
              "padding": (7, 1), "dilation": [INT64_MAX, INT64_MAX], "groups": 1}, "dilation", None, "refused"),
        ]
    if op == "causal_conv1d":
        base = {"x": a(1, 2, 6), "weight": a(3, 2, 3), "bias": None, "dilation": 1}
        return [(base, "dilation", INT64_MAX, "answered"), (base, "dilation", INT64_MIN, "refused")]
    if op == "wavenet_stream":
        base = {"x": a(1, 2, 5), "weights": 0.5 * a(2, 4, 2, 2), "biases": a(2, 4), "dilations": (1, 2)}
        return [(base, "dilations", (INT64_MAX, 1), "answered"), (base, "dilations", (1, INT64_MAX), "answered"),
                (base, "dilations", (1, INT64_MIN), "refused")]
    return []


def test_int64_extremes_of_integer_parameters(impl):
    """Every integer parameter at int64's ends, through the contract: the
    reference's answer where it accepts the value (a stride or dilation that
    reads nothing more), else a ValueError naming the argument -- before any
    kernel runs."""
    _require(impl)
    for base, name, value, outcome in _int64_extremes(impl.op):
        inputs = dict(base) if value is None else {**base, name: value}
        if outcome == "answered":
            _check_valid(impl, **inputs)
        else:
            check_example(impl, Example(inputs, "invalid", (name,), (ValueError,), f"{name}={value!r}"))


# -- the extension's entry points, without the spec in front ------------------------


@settings(max_examples=scaled(300))
@given(data=st.data())
def test_ext_entry_point_refuses_or_answers(ext_impl, data):
    """impls._C.<op> called with tensors the spec would have refused or made
    contiguous: it raises, or, where the spec accepts the same values, gives
    the reference's answer.  Never a crash or a read out of bounds (the
    tensors end at an inaccessible page)."""
    _require(ext_impl)
    import torch

    example = data.draw(ext_example(ext_impl.op), label="example")
    note(f"{example.what}: {describe(example.inputs)}")
    _record(ext_impl.key, example)
    try:
        output = ext_impl.fn(**example.inputs)
    except (RuntimeError, ValueError, TypeError, MemoryError) as exc:
        event(f"refused: {type(exc).__name__}")
        return
    spec = ext_impl.spec
    as_numpy = {}
    for name, value in example.inputs.items():
        if name == "algorithm":  # the extension's own option, not the contract's
            continue
        if isinstance(value, torch.Tensor):
            if value.dtype == torch.bfloat16:
                event("answered bfloat16")
                return  # no NumPy twin; the contract refuses it anyway
            value = value.numpy()
        as_numpy[name] = value
    try:
        checked = spec.validate(**as_numpy)
    except (ValueError, TypeError) as exc:
        event(f"answered outside the contract: {str(exc).split(';')[0]}")
        return  # e.g. an empty axis, which the contract refuses for the pure-Python backend's sake
    event("answered, compared with the reference")
    result = ext_impl.to_numpy(output, checked)
    verdict = spec.compare(result, spec.reference(**checked), checked)
    assert verdict.ok, f"accepted {example.what} ({describe(example.inputs)}) and answered wrongly: {verdict.message}"


test_ext_entry_point_refuses_or_answers.__test__ = CHILD_BACKEND == "ext"


def test_regression_ext_conv2d_survives_any_stride(ext_impl):
    """test_ext_entry_point_refuses_or_answers found: _C.conv2d on a 2 x 2
    image with stride 2**20 or more aborted the process (std::bad_alloc thrown
    inside an OpenMP region: std::terminate); stride 2**16 took 149 s (the
    direct kernel's stride_h * stride_w polyphase planes).  Each algorithm
    now answers or raises."""
    if ext_impl.op != "conv2d":
        return
    _require(ext_impl)
    import torch

    x, weight = torch.arange(4.0).reshape(1, 1, 2, 2), torch.ones(1, 1, 1, 1)
    for algorithm in ("auto", "direct", "im2col"):  # (winograd refuses a stride)
        for stride in (2**16, 2**62, 2**63 - 1):
            y = ext_impl.fn(x, weight, None, (stride, stride), (0, 0), (1, 1), 1, algorithm=algorithm)
            assert y.flatten().tolist() == [0.0], (algorithm, stride)
        try:  # 60002 x 60002 padded, 3 x 3 outputs: direct's polyphase copy may not fit in memory
            y = ext_impl.fn(x, weight, None, (30000, 30000), (30000, 30000), (1, 1), 1, algorithm=algorithm)
        except (MemoryError, ValueError):
            assert algorithm == "direct"
        else:
            assert y.shape == (1, 1, 3, 3) and y[0, 0, 1, 1] == 0.0
    with pytest.raises(ValueError, match=r"padding .* ask algorithm 'direct' for a polyphase copy"):
        ext_impl.fn(x, weight, None, (2**40, 2**40), (2**40, 2**40), (1, 1), 1, algorithm="direct")


test_regression_ext_conv2d_survives_any_stride.__test__ = CHILD_BACKEND == "ext"


def test_regression_ext_entry_point_int64_extremes(ext_impl):
    """test_ext_entry_point_refuses_or_answers (long profile) found: _C.conv2d
    with stride and dilation 2**63 - 1 on a 2-tap kernel crashed the process
    (SIGSEGV): the dilated extent wrapped negative and passed the size check.
    Below the spec, every integer argument and every size the extension
    derives from the tensors' shapes (4 H of an empty h, 2 C of an empty x)
    is checked with overflow-safe arithmetic before any kernel runs: a
    ValueError naming the argument, or the answer."""
    _require(ext_impl)
    import torch

    from impls import _C

    t = lambda *shape: torch.ones(shape)
    refused = []  # (call, the argument the message must name)
    if ext_impl.op == "conv2d":
        x, weight = t(1, 1, 2, 1), t(1, 1, 2, 3)
        for algorithm in ("auto", "direct", "im2col", "winograd"):
            def call(algorithm=algorithm, **changed):
                arguments = {"x": x, "weight": weight, "bias": None, "stride": (1, 1), "padding": (7, 1),
                             "dilation": (1, 1), "groups": 1, "algorithm": algorithm}
                return _C.conv2d(**{**arguments, **changed})

            refused += [
                (lambda c=call: c(stride=(INT64_MAX, INT64_MAX), dilation=(INT64_MAX, INT64_MAX)), "dilation"),
                (lambda c=call: c(dilation=(1, INT64_MAX)), "dilation"),
                (lambda c=call: c(dilation=(INT64_MIN, 1)), "dilation"),
                (lambda c=call: c(padding=(INT64_MAX, 0)), "padding"),
                (lambda c=call: c(padding=(2**61, 2**61), stride=(INT64_MAX, INT64_MAX)), "padding"),
                (lambda c=call: c(padding=(0, INT64_MIN)), "padding"),
                (lambda c=call: c(stride=(INT64_MIN, 1)), "stride"),
                (lambda c=call: c(groups=INT64_MAX), "groups"),
                (lambda c=call: c(groups=INT64_MIN), "groups"),
            ]
            # One output row: its taps read x or padding the same at any stride.
            y = call(stride=(INT64_MAX, INT64_MAX), padding=(0, 1)) if algorithm != "winograd" else None
            assert y is None or y.flatten().tolist() == [2.0], (algorithm, y)
        refused += [(lambda: _C.conv2d_cpu_flops([1, 1, 2, 1], [1, 1, 2, 3], [1, 1], [INT64_MAX, 1], [1, 1], 1,
                                                 False), "padding")]
    elif ext_impl.op == "causal_conv1d":
        for dilation in (INT64_MAX, INT64_MIN):
            refused.append((lambda d=dilation: _C.causal_conv1d(t(1, 2, 6), t(3, 2, 3), None, d), "dilation"))
        refused.append((lambda: _C.causal_conv1d_cpu_flops(1, 2, 3, 3, 6, INT64_MIN, False, "float32"), "dilation"))
        assert _C.causal_conv1d_cpu_flops(1, 2, 3, 3, 6, INT64_MAX, False, "float32") == 2 * 3 * 6 * 2 * 3
    elif ext_impl.op == "wavenet_stream":
        x, weights, biases = t(1, 2, 5), torch.zeros(2, 4, 2, 2), torch.zeros(2, 4)
        assert torch.equal(_C.wavenet_stream(x, weights, biases, [INT64_MAX, 1], 0), x)  # zero weights: x passes
        refused += [(lambda: _C.wavenet_stream(x, weights, biases, [1, INT64_MIN], 0), "dilations")]
        refused += [(lambda n=n: _C.wavenet_stream(x, weights, biases, [1, 2], n), "threads")
                    for n in (INT64_MAX, INT64_MIN)]
        empty = torch.empty(0, 2**62, 0)  # an empty x may claim any C: 2 C must not wrap
        refused.append((lambda: _C.wavenet_stream(empty, torch.empty(0, 0, 0, 2), torch.empty(0, 0), [], 0), "x"))
    elif ext_impl.op == "lstm_cell":
        h = torch.empty(0, 2**62)  # 4 H wraps to 0: the (0, I) weights must not match it
        refused.append((lambda: _C.lstm_cell(torch.empty(0, 3), h, h, torch.empty(0, 3), torch.empty(0, 2**62),
                                             torch.empty(0), torch.empty(0)), "h"))
    elif ext_impl.op == "convlstm_cell":
        h = torch.empty(0, 2**62, 1, 1)
        refused.append((lambda: _C.convlstm_cell(torch.empty(0, 1, 1, 1), h, h, torch.empty(0, 1, 3, 3),
                                                 torch.empty(0)), "h"))
    for call, name in refused:
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            call()


test_regression_ext_entry_point_int64_extremes.__test__ = CHILD_BACKEND == "ext"


# -- the native backends, each in a child process --------------------------------


def run_child(backend: str, arguments: list[str], flight: Path) -> tuple[int, str]:
    """This file's tests for one native backend in a child pytest process:
    (exit status, or minus the signal that ended it; the output's tail)."""
    command = [sys.executable, "-X", "faulthandler", "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", "-rfE", *arguments]
    env = dict(os.environ, KA_PROPERTIES_CHILD=backend, KA_PROPERTIES_FLIGHT=str(flight))
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                           timeout=900 * max(1, scaled(100) // 100))
    return child.returncode, (child.stdout + child.stderr)[-12000:]


def check_child(backend: str, arguments: list[str], flight: Path) -> None:
    status, output = run_child(backend, arguments, flight)
    if status < 0:
        name = signal.Signals(-status).name
        last = flight.read_text() if flight.exists() else "(none recorded)"
        pytest.fail(f"the {backend} property run crashed with {name}.\nLast input: {last}\n{output}", pytrace=False)
    # 0: passed; 5: nothing collected (an --op selection without this backend).
    if status not in (0, 5):
        pytest.fail(f"the {backend} property run failed (exit {status}):\n{output}", pytrace=False)


def test_native_backend_properties_in_child_process(native_backend, request, tmp_path):
    """Runs this file's properties for one native backend in a child pytest
    process; a crash there is a failure here, with the input that caused it."""
    arguments = []
    for option in ("--op", "--backend", "--plugin"):
        for value in request.config.getoption(option) or ():
            arguments += [option, value]
    profile = request.config.getoption("hypothesis_profile", None)
    if profile:
        arguments += ["--hypothesis-profile", profile]
    check_child(native_backend, arguments, tmp_path / "last-input.txt")


def test_child_crash_is_reported_with_its_input(tmp_path):
    """The crash report itself: a plugin implementation that segfaults on
    purpose fails the child run with SIGSEGV and the input it was given."""
    plugin = tmp_path / "crashing_plugin.py"
    plugin.write_text(
        "import ctypes\n"
        "from impls.registry import register\n\n\n"
        "@register('box_iou', backend='numba', name='segfaults_on_purpose')\n"
        "def box_iou(boxes1, boxes2):\n"
        "    return ctypes.string_at(0)  # reads address 0: SIGSEGV\n"
    )
    if impls.backends.get("numba").unavailable_reason("cpu"):
        pytest.skip(impls.backends.get("numba").unavailable_reason("cpu"))
    flight = tmp_path / "last-input.txt"
    with pytest.raises(pytest.fail.Exception) as failed:
        check_child("numba", ["--plugin", str(plugin), "--op", "box_iou", "-k", "segfaults_on_purpose"], flight)
    report = str(failed.value)
    assert "crashed with SIGSEGV" in report
    assert "Last input: box_iou/segfaults_on_purpose/cpu: Example(" in report


test_native_backend_properties_in_child_process.__test__ = not CHILD_BACKEND
test_child_crash_is_reported_with_its_input.__test__ = not CHILD_BACKEND
