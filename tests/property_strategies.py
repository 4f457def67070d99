"""Hypothesis strategies for tests/test_properties.py.

``valid_example(op, small)`` draws inputs that an op's contract accepts:
random shapes down to the empty sizes the op allows, values of several kinds
(Gaussian, small integers that make ties and exact zeros, all zeros, and for
the elementwise op magnitudes across the dtype's whole range), scalars in
every spelling the contract takes (an int or a pair, a tuple, a list, NumPy
integers), and every array in one of many memory layouts: C or Fortran
order, transposed and strided views, negative and zero strides, read-only,
big-endian, misaligned, or placed against an inaccessible page so that a
kernel reading past either end of it faults instead of reading garbage.

``bad_example(op)`` takes a valid example and breaks it once: a wrong dtype,
NaN or inf, a wrong rank, a wrong size, a list or a masked array for an
array, a bad scalar, a missing or unknown argument.  Each example says what
the contract must do with it (``expect``) and which arguments its error
message may name (``blame``).

``long_example(op, length)`` draws a case with one long axis and a small
total size; ``ext_example(op)`` draws torch tensors near the contract's
shapes, some slightly wrong, for the extension's entry points called
without the spec's checks.

The values are kept where the dtype's arithmetic can represent every
partial result (|values| of a few units for the products and sums, any
finite value for gated_unit, and boxes anywhere up to the limits the box
contract states), so a mismatch is a bug, not float32 overflow.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import mmap
import warnings

import numpy as np
from hypothesis import strategies as st

FLOAT_DTYPES = ("float32", "float64")
# dtypes no op takes: each must be refused with a TypeError naming the argument.
FOREIGN_DTYPES = ("float16", "int8", "int32", "int64", "uint8", "bool", "complex64", "complex128", "object", "<U3")


@dataclasses.dataclass
class Example:
    """Inputs of one op call and what its contract must do with them."""

    inputs: dict
    expect: str = "valid"  # "valid": the reference's answer; "invalid": an error; "either"
    blame: tuple[str, ...] = ()  # an error's message must name one of these
    errors: tuple[type, ...] = (ValueError, TypeError)
    what: str = "valid input"  # the defect, for failure messages

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        return f"Example({self.what}; expect={self.expect}; {describe(self.inputs)})"


def describe(inputs: dict) -> str:
    """Shapes, dtypes, strides and flags of the arrays, reprs of the rest: enough
    to rebuild a failing call's layout."""
    parts = []
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            flags = [f for f, on in (("F", value.flags.f_contiguous and not value.flags.c_contiguous),
                                     ("noncontig", not value.flags.c_contiguous and not value.flags.f_contiguous),
                                     ("readonly", not value.flags.writeable),
                                     ("unaligned", not value.flags.aligned),
                                     ("byteswapped", not value.dtype.isnative)) if on]
            kind = type(value).__name__
            parts.append(f"{name}={kind}({value.dtype.str}, shape={value.shape}, strides={value.strides}"
                         f"{', ' + ' '.join(flags) if flags else ''})")
        elif _is_tensor(value):
            parts.append(f"{name}=Tensor({value.dtype}, shape={tuple(value.shape)}, stride={value.stride()}, "
                         f"offset={value.storage_offset()})")
        else:
            text = repr(value)
            parts.append(f"{name}={text if len(text) <= 80 else text[:77] + '...'}")
    return ", ".join(parts)


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "storage_offset")


# -- values -------------------------------------------------------------------

VALUE_STYLES = ("normal", "ints", "zeros")


def fill(rng: np.random.Generator, shape, dtype: str, style: str) -> np.ndarray:
    if style == "normal":
        values = rng.standard_normal(shape)
    elif style == "ints":  # ties, exact zeros, exact products
        values = rng.integers(-3, 4, shape).astype(np.float64)
    elif style == "zeros":
        values = np.zeros(shape)
    elif style in ("wide", "huge"):  # magnitudes up to 1e30 or any the dtype holds; both signs, subnormals
        top = math.log10(np.finfo(dtype).max) - 0.01 if style == "huge" else 30.0
        bottom = math.log10(np.finfo(dtype).smallest_subnormal)
        values = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(bottom, top, shape)
        values[rng.random(shape) < 0.1] = 0.0
    else:
        raise ValueError(f"unknown value style {style!r}")
    return values.astype(dtype)


@st.composite
def generator(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


# -- memory layouts -----------------------------------------------------------

_PAGE = mmap.PAGESIZE
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
except (OSError, AttributeError):  # no mprotect here: fenced layouts fall back to plain copies
    _libc = None


def fenced(array: np.ndarray, side: str) -> np.ndarray:
    """A copy of ``array`` placed so that its data ends (side="after") or starts
    (side="before") at a page that may not be read: a kernel that reads one
    element past that end faults, where it would otherwise read garbage."""
    if _libc is None or array.nbytes == 0:
        return array.copy()
    data_pages = -(-array.nbytes // _PAGE)
    buffer = mmap.mmap(-1, (data_pages + 1) * _PAGE)
    base = np.frombuffer(buffer, np.uint8).ctypes.data
    guard = base + data_pages * _PAGE if side == "after" else base
    if _libc.mprotect(guard, _PAGE, 0) != 0:  # PROT_NONE
        return array.copy()
    offset = data_pages * _PAGE - array.nbytes if side == "after" else _PAGE
    out = np.frombuffer(buffer, array.dtype, count=array.size, offset=offset).reshape(array.shape)
    out[...] = array
    return out


def _misaligned(array: np.ndarray) -> np.ndarray:
    raw = np.zeros(array.nbytes + 1, np.uint8)
    out = raw[1:].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def _strided(array: np.ndarray, axis: int) -> np.ndarray:
    """The same values, every other element of a twice-as-long axis."""
    shape = list(array.shape)
    shape[axis] *= 2
    wide = np.full(shape, np.nan, array.dtype) if array.dtype.kind == "f" else np.zeros(shape, array.dtype)
    index = [slice(None)] * array.ndim
    index[axis] = slice(None, None, 2)
    wide[tuple(index)] = array
    return wide[tuple(index)]


LAYOUTS = ("c", "fortran", "transposed", "strided", "reversed", "readonly", "big-endian", "misaligned",
           "fenced-after", "fenced-before", "broadcast", "matrix")


@st.composite
def laid_out(draw, array: np.ndarray) -> np.ndarray:
    """``array``'s values (or, for "broadcast", values still valid for the op:
    one slice repeated) in a drawn memory layout."""
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "c" or array.ndim == 0:
        return array
    axis = draw(st.integers(0, array.ndim - 1))
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T
    if layout == "strided":
        return _strided(array, axis)
    if layout == "reversed":
        return np.flip(np.flip(array, axis).copy(), axis)
    if layout == "readonly":
        out = array.copy()
        out.flags.writeable = False
        return out
    if layout == "big-endian":
        return array.astype(array.dtype.newbyteorder(">"))
    if layout == "misaligned":
        return _misaligned(array)
    if layout == "matrix":  # a subclass whose * is a matrix product
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy discourages np.matrix; some still use it
            return np.asmatrix(array) if array.ndim == 2 else array
    if layout in ("fenced-after", "fenced-before"):
        return fenced(array, layout.removeprefix("fenced-"))
    # broadcast: one slice along an axis the op does not constrain, repeated
    # with stride 0.  Only the leading (batch or box) axis is always free.
    if array.shape[0] == 0:
        return array
    return np.broadcast_to(array[:1], array.shape)


# -- scalars ------------------------------------------------------------------


@st.composite
def int_spelling(draw, value: int):
    """An int as the contract may receive it: int or NumPy integer."""
    if value < 2**63 and draw(st.booleans()):
        return draw(st.sampled_from([np.int64, np.int32 if value < 2**31 else np.int64]))(value)
    return value


@st.composite
def pair_spelling(draw, pair: tuple[int, int]):
    """An int-or-pair argument: an int when both are equal, else a tuple or a list."""
    if pair[0] == pair[1] and draw(st.booleans()):
        return draw(int_spelling(pair[0]))
    kind = draw(st.sampled_from([tuple, list]))
    return kind([draw(int_spelling(pair[0])), draw(int_spelling(pair[1]))])


# -- boxes --------------------------------------------------------------------

BOX_STYLES = ("grid", "uniform", "extreme")


def boxes_of(rng: np.random.Generator, n: int, dtype: str, style: str) -> np.ndarray:
    """(n, 4) boxes with x1 <= x2 and y1 <= y2."""
    if style == "grid":  # ties, identical and touching boxes, zero widths and heights
        corner = rng.integers(0, 5, (n, 2)).astype(np.float64)
        size = rng.integers(0, 4, (n, 2)).astype(np.float64)
    elif style == "uniform":
        corner = rng.uniform(-100, 100, (n, 2))
        size = rng.exponential(20.0, (n, 2)) * (rng.random((n, 2)) > 0.1)
    else:  # any magnitudes the dtype holds: the contract's limits decide
        low, high = math.log10(np.finfo(dtype).smallest_subnormal), math.log10(np.finfo(dtype).max) - 0.01
        ends = rng.choice([-1.0, 1.0], (n, 2, 2)) * 10.0 ** rng.uniform(low, high, (n, 2, 2))
        ends = np.sort(ends.astype(dtype), axis=1)  # sorted in the dtype: x1 <= x2 survives the cast
        return np.stack([ends[:, 0, 0], ends[:, 0, 1], ends[:, 1, 0], ends[:, 1, 1]], axis=1)
    return np.concatenate([corner, corner + size], axis=1).astype(dtype)


def scores_of(rng: np.random.Generator, n: int, dtype: str, style: str) -> np.ndarray:
    if style == "ties":  # many equal scores (ties keep the lower index first), -0.0 beside 0.0
        scores = rng.integers(-1, 3, n).astype(np.float64) * 0.5
        scores[rng.random(n) < 0.2] = -0.0
    else:
        scores = rng.standard_normal(n)
    return scores.astype(dtype)


# -- valid inputs, per op ------------------------------------------------------


@st.composite
def _conv2d(draw, small: bool, rng: np.random.Generator, dtype: str, style: str) -> dict:
    groups = draw(st.integers(1, 1 if small else 3))
    cin_g, cout_g = draw(st.integers(1, 2 if small else 3)), draw(st.integers(1, 2 if small else 4))
    n = draw(st.integers(1, 1 if small else 3))
    kernel, stride, padding, dilation, size = [], [], [], [], []
    for _ in range(2):
        k = draw(st.integers(1, 3 if small else 4))
        # Strides past the padded input (a single output row, whatever the
        # stride) and dilations of a 1-tap axis (read nothing) are valid.
        s = draw(st.one_of(st.integers(1, 3), st.sampled_from([5, 1000, 2**31, 2**62, 2**63 - 1])))
        d = draw(st.one_of(st.integers(1, 3), st.sampled_from([2**31, 2**63 - 1]) if k == 1 else st.nothing()))
        p = draw(st.one_of(st.integers(0, 2), st.just(7)))  # 7: wider than kernel and input
        extent = d * (k - 1) + 1
        low = max(1, extent - 2 * p)
        kernel.append(k), stride.append(s), padding.append(p), dilation.append(d)
        size.append(draw(st.integers(low, low + (3 if small else 7))))
    x = fill(rng, (n, groups * cin_g, *size), dtype, style)
    weight = fill(rng, (groups * cout_g, cin_g, *kernel), dtype, style)
    bias = fill(rng, (groups * cout_g,), dtype, style) if draw(st.booleans()) else None
    return {"x": x, "weight": weight, "bias": bias, "stride": draw(pair_spelling(tuple(stride))),
            "padding": draw(pair_spelling(tuple(padding))), "dilation": draw(pair_spelling(tuple(dilation))),
            "groups": draw(int_spelling(groups))}


HUGE_DILATIONS = (2**31, 2**62, 2**63 - 1, 2**64, 10**30)


@st.composite
def _causal_conv1d(draw, small: bool, rng, dtype, style) -> dict:
    n, cin, cout = (draw(st.integers(1, 2 if small else hi)) for hi in (3, 4, 6))
    k = draw(st.integers(1, 4))
    length = draw(st.integers(0, 12 if small else 40))
    dilation = draw(st.one_of(st.integers(1, 6), st.sampled_from([max(length, 1), length + 1, *HUGE_DILATIONS])))
    bias = fill(rng, (cout,), dtype, style) if draw(st.booleans()) else None
    return {"x": fill(rng, (n, cin, length), dtype, style), "weight": fill(rng, (cout, cin, k), dtype, style),
            "bias": bias, "dilation": draw(int_spelling(dilation))}


@st.composite
def _wavenet_stream(draw, small: bool, rng, dtype, style) -> dict:
    n, channels = draw(st.integers(1, 1 if small else 2)), draw(st.integers(1, 2 if small else 3))
    steps = draw(st.integers(0, 8 if small else 24))
    layers = draw(st.integers(0, 3 if small else 4))
    special = [max(steps, 1), steps + 1, 2**40, 2**63 - 1, 2**64]
    dilations = [draw(st.one_of(st.integers(1, 6), st.sampled_from(special))) for _ in range(layers)]
    spelling = draw(st.sampled_from(["tuple", "list", "array"] if max(dilations, default=0) < 2**63 else ["tuple"]))
    dilations = tuple(dilations) if spelling == "tuple" else list(dilations) if spelling == "list" else np.array(
        dilations, dtype=np.int64)
    # Weights at 1/sqrt(2C): the residual stream stays O(1) through the layers.
    scale = 1.0 / math.sqrt(2 * channels)
    return {"x": fill(rng, (n, channels, steps), dtype, style),
            "weights": (fill(rng, (layers, 2 * channels, channels, 2), dtype, style) * scale).astype(dtype),
            "biases": fill(rng, (layers, 2 * channels), dtype, style), "dilations": dilations}


@st.composite
def _gated_unit(draw, small: bool, rng, dtype, style, extreme: bool = True) -> dict:
    n, channels, length = draw(st.integers(1, 3)), draw(st.integers(1, 2 if small else 5)), draw(
        st.integers(1, 10 if small else 40))
    # Elementwise: any value within the contract's limit must saturate, never overflow.
    style = draw(st.sampled_from([style, "wide", "wide"] + (["huge"] if extreme else [])))
    return {"x": fill(rng, (n, 2 * channels, length), dtype, style), "kind": draw(st.sampled_from(["tanh", "glu"]))}


@st.composite
def _lstm_cell(draw, small: bool, rng, dtype, style) -> dict:
    # Batches past 8 take the extension's GEMM path, up to 8 its fused GEMV.
    batch = draw(st.integers(1, 3 if small else 12))
    input_size, hidden = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    shapes = {"x": (batch, input_size), "h": (batch, hidden), "c": (batch, hidden),
              "w_ih": (4 * hidden, input_size), "w_hh": (4 * hidden, hidden), "b_ih": (4 * hidden,),
              "b_hh": (4 * hidden,)}
    return {name: fill(rng, shape, dtype, style) for name, shape in shapes.items()}


@st.composite
def _convlstm_cell(draw, small: bool, rng, dtype, style) -> dict:
    batch, cin, hidden = draw(st.integers(1, 1 if small else 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 4 if small else 6)), draw(st.integers(1, 4 if small else 6))
    k = draw(st.sampled_from([1, 3] if small else [1, 3, 5]))
    shapes = {"x": (batch, cin, height, width), "h": (batch, hidden, height, width),
              "c": (batch, hidden, height, width), "weight": (4 * hidden, cin + hidden, k, k), "bias": (4 * hidden,)}
    return {name: fill(rng, shape, dtype, style) for name, shape in shapes.items()}


@st.composite
def _threshold(draw):
    value = draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 1.0])))
    spelling = draw(st.sampled_from([float, np.float32, np.float64] + ([int] if value in (0.0, 1.0) else [])))
    return spelling(value)


@st.composite
def _nms(draw, small: bool, rng, dtype, style, extreme: bool = True) -> dict:
    n = draw(st.integers(0, 12 if small else 40))
    box_style = draw(st.sampled_from(BOX_STYLES if extreme else BOX_STYLES[:2]))
    scores = scores_of(rng, n, dtype, draw(st.sampled_from(["distinct", "ties"])))
    score_threshold = draw(st.one_of(st.none(), st.floats(-2.0, 2.0), st.sampled_from([0, -0.0, 0.5, 1e30])))
    return {"boxes": boxes_of(rng, n, dtype, box_style), "scores": scores, "iou_threshold": draw(_threshold()),
            "score_threshold": score_threshold}


@st.composite
def _box_iou(draw, small: bool, rng, dtype, style, extreme: bool = True) -> dict:
    n, m = draw(st.integers(0, 6 if small else 20)), draw(st.integers(0, 6 if small else 20))
    box_style = draw(st.sampled_from(BOX_STYLES if extreme else BOX_STYLES[:2]))
    return {"boxes1": boxes_of(rng, n, dtype, box_style), "boxes2": boxes_of(rng, m, dtype, box_style)}


BUILDERS = {"conv2d": _conv2d, "causal_conv1d": _causal_conv1d, "wavenet_stream": _wavenet_stream,
            "gated_unit": _gated_unit, "lstm_cell": _lstm_cell, "convlstm_cell": _convlstm_cell, "nms": _nms,
            "box_iou": _box_iou}
# Magnitudes up to the dtype's limits: boxes, where the box contract's limits
# decide, and gated_unit's x, checked against its contract's limit.
_EITHER = {"nms": ("boxes",), "box_iou": ("boxes1", "boxes2"), "gated_unit": ("x",)}


@st.composite
def valid_inputs(draw, op: str, small: bool = False, extreme: bool = True) -> dict:
    """Inputs the op's contract accepts, C-contiguous, before any layout;
    with ``extreme``, boxes may be of any magnitude (then the box contract's
    limits decide)."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    build = BUILDERS[op]
    args = (small, draw(generator()), dtype, draw(st.sampled_from(VALUE_STYLES)))
    return draw(build(*args, extreme=extreme) if op in _EITHER else build(*args))


def _extreme(values: np.ndarray) -> bool:
    """Magnitudes near a dtype's limits (where a contract may draw a line)."""
    magnitudes = np.abs(values[values != 0])
    return bool(magnitudes.size) and (magnitudes.max() > 1e4 or magnitudes.min() < 1e-3)


@st.composite
def valid_example(draw, op: str, small: bool = False) -> Example:
    inputs = draw(valid_inputs(op, small))
    for name, value in inputs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            inputs[name] = draw(laid_out(value))
    if op == "gated_unit":  # the contract's one line: |x| <= X_LIMIT
        from impls.gated_unit.spec import X_LIMIT

        if np.abs(inputs["x"]).max() > X_LIMIT[inputs["x"].dtype.name]:
            return Example(inputs, "invalid", ("x",), (ValueError,), "x beyond the contract's limit")
    elif op in _EITHER and any(_extreme(inputs[name]) for name in _EITHER[op]):
        return Example(inputs, "either", _EITHER[op], what="extreme magnitudes")
    return Example(inputs)


# -- defects ------------------------------------------------------------------

# The arguments that are arrays, and for each axis the arguments whose sizes it
# must agree with: an error for a wrong size there may name any of them.
AXES = {
    "conv2d": {
        "x": ({"x"}, {"x", "weight", "groups"}, {"x", "weight"}, {"x", "weight"}),
        "weight": ({"weight", "bias", "groups"}, {"weight", "x", "groups"}, {"weight", "x"}, {"weight", "x"}),
        "bias": ({"bias", "weight"},),
    },
    "causal_conv1d": {
        "x": ({"x"}, {"x", "weight"}, {"x"}),
        "weight": ({"weight", "bias"}, {"weight", "x"}, {"weight"}),
        "bias": ({"bias", "weight"},),
    },
    "wavenet_stream": {
        "x": ({"x"}, {"x", "weights", "biases"}, {"x"}),
        "weights": ({"weights", "biases", "dilations"}, {"weights", "x"}, {"weights", "x"}, {"weights"}),
        "biases": ({"biases", "weights", "dilations"}, {"biases", "x", "weights"}),
    },
    "gated_unit": {"x": ({"x"}, {"x"}, {"x"})},
    "lstm_cell": {
        "x": ({"x", "h"}, {"x", "w_ih"}),
        "h": ({"h", "x"}, {"h", "c", "w_ih", "w_hh", "b_ih", "b_hh"}),
        "c": ({"c", "h"}, {"c", "h"}),
        "w_ih": ({"w_ih", "h"}, {"w_ih", "x"}),
        "w_hh": ({"w_hh", "h"}, {"w_hh", "h"}),
        "b_ih": ({"b_ih", "h"},),
        "b_hh": ({"b_hh", "h"},),
    },
    "convlstm_cell": {
        "x": ({"x", "h"}, {"x", "weight"}, {"x", "h"}, {"x", "h"}),
        "h": ({"h", "x"}, {"h", "c", "weight", "bias"}, {"h", "x"}, {"h", "x"}),
        "c": ({"c", "h"},) * 4,
        "weight": ({"weight", "h"}, {"weight", "x", "h"}, {"weight"}, {"weight"}),
        "bias": ({"bias", "weight", "h"},),
    },
    "nms": {"boxes": ({"boxes", "scores"}, {"boxes"}), "scores": ({"scores", "boxes"},)},
    "box_iou": {"boxes1": ({"boxes1"}, {"boxes1"}), "boxes2": ({"boxes2"}, {"boxes2"})},
}

# Scalar arguments: values the contract must refuse, with the error each gets.
_NOT_INT = [1.5, "2", None, True, np.float64(2.0), [1]]
BAD_SCALARS = {
    "conv2d": {
        "stride": [(0, ValueError), (-1, ValueError), ((1, 0), ValueError), ((1, 1, 1), TypeError), ((1,), TypeError),
                   ((1, 2.0), TypeError), ((True, 1), TypeError)] + [(v, TypeError) for v in _NOT_INT],
        "padding": [(-1, ValueError), ((0, -2), ValueError), ((0,), TypeError)] + [(v, TypeError) for v in _NOT_INT],
        "dilation": [(0, ValueError), ((1, 0), ValueError), (-2, ValueError)] + [(v, TypeError) for v in _NOT_INT],
        "groups": [(0, ValueError), (-1, ValueError), ((1,), TypeError)] + [(v, TypeError) for v in _NOT_INT],
    },
    "causal_conv1d": {"dilation": [(0, ValueError), (-1, ValueError), (-(2**63), ValueError), ((1,), TypeError)]
                      + [(v, TypeError) for v in _NOT_INT]},
    "gated_unit": {"kind": [("relu", ValueError), ("", ValueError), ("TANH", ValueError), (" tanh", ValueError),
                            (None, TypeError), (1, TypeError), (b"tanh", TypeError), (("tanh",), TypeError)]},
    "nms": {
        "iou_threshold": [(-0.01, ValueError), (1.01, ValueError), (math.nan, ValueError), (math.inf, ValueError),
                          (-math.inf, ValueError), (np.float32("nan"), ValueError), ("0.5", TypeError),
                          (None, TypeError), (True, TypeError), (0.5 + 0j, TypeError), ([0.5], TypeError)],
        "score_threshold": [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
                            ("0.1", TypeError), (True, TypeError), ([0.1], TypeError), (0.1j, TypeError)],
    },
}
OPTIONAL = {"nms": {"score_threshold"}}  # arguments with a default: leaving them out is valid
NONE_ALLOWED = {"conv2d": {"bias"}, "causal_conv1d": {"bias"}, "nms": {"score_threshold"}}

DEFECTS = ("dtype", "mixed-dtype", "non-finite", "rank", "not-an-array", "masked", "size", "scalar", "missing",
           "unexpected", "dilations")


def _arrays(inputs: dict) -> list[str]:
    return [k for k, v in inputs.items() if isinstance(v, np.ndarray) and k != "dilations"]


@st.composite
def bad_example(draw, op: str) -> Example:
    """A valid (small) example of ``op`` with one defect."""
    inputs = draw(valid_inputs(op, small=True, extreme=False))
    arrays = _arrays(inputs)
    defects = [d for d in DEFECTS if (d != "scalar" or op in BAD_SCALARS) and (d != "dilations" or
                                                                               op == "wavenet_stream")]
    defect = draw(st.sampled_from(defects))
    name = draw(st.sampled_from(arrays))
    value = inputs[name]
    if defect == "non-finite" and value.size == 0:
        defect = "dtype"

    if defect == "dtype":
        dtype = draw(st.sampled_from(FOREIGN_DTYPES))
        with np.errstate(all="ignore"):
            inputs[name] = value.astype(dtype)
        return Example(inputs, "invalid", (name,), (TypeError,), f"{name} as {dtype}")
    if defect == "mixed-dtype":
        other = "float64" if value.dtype == np.float32 else "float32"
        with np.errstate(over="ignore"):
            inputs[name] = value.astype(other)
        if not np.isfinite(inputs[name]).all():  # a float64 beyond float32's range became inf
            return Example(inputs, "invalid", (name,), (ValueError, TypeError), f"{name} as {other}, overflowing")
        if all(inputs[a].dtype == other for a in arrays):
            return Example(inputs, "valid", what=f"every array as {other}")
        return Example(inputs, "invalid", (name,), (TypeError,), f"{name} alone as {other}")
    if defect == "non-finite":
        bad = value.copy()
        bad.flat[draw(st.integers(0, value.size - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        inputs[name] = bad
        return Example(inputs, "invalid", (name,), (ValueError,), f"{name} holding NaN or inf")
    if defect == "rank":
        if value.ndim and draw(st.booleans()):
            axis = draw(st.integers(0, value.ndim - 1))
            fewer = value.shape[:axis] + value.shape[axis + 1 :]
            dropped = np.asarray(np.take(value, 0, axis=axis)) if value.shape[axis] else np.zeros(fewer, value.dtype)
            inputs[name] = dropped
        else:
            inputs[name] = np.expand_dims(value, draw(st.integers(0, value.ndim)))
        return Example(inputs, "invalid", (name,), (ValueError,), f"{name} of rank {inputs[name].ndim}")
    if defect == "not-an-array":
        import torch

        spelling = draw(st.sampled_from(["list", "tuple", "tensor", "scalar", "none", "str"]))
        if spelling == "none" and name in NONE_ALLOWED.get(op, ()):
            spelling = "list"
        inputs[name] = {"list": value.tolist, "tuple": lambda: tuple(value.tolist()),
                        "tensor": lambda: torch.from_numpy(value.copy()), "scalar": lambda: 1.0,
                        "none": lambda: None, "str": lambda: "x"}[spelling]()
        return Example(inputs, "invalid", (name,), (TypeError,), f"{name} as a {spelling}")
    if defect == "masked":
        # A mask hides values (here a NaN) that a kernel would read anyway.
        data = value.copy()
        if data.size:
            data.flat[0] = np.nan
        inputs[name] = np.ma.masked_array(data, mask=np.zeros(data.shape, bool) | (data != data))
        return Example(inputs, "invalid", (name,), (TypeError, ValueError), f"{name} as a masked array")
    if defect == "size":
        axis = draw(st.integers(0, value.ndim - 1))
        size = draw(st.integers(0, 6).filter(lambda s: s != value.shape[axis]))
        shape = value.shape[:axis] + (size,) + value.shape[axis + 1 :]
        rng = draw(generator())
        if op in ("nms", "box_iou") and name != "scores" and axis == 0:
            inputs[name] = boxes_of(rng, size, value.dtype.name, "grid")
        else:
            inputs[name] = fill(rng, shape, value.dtype.name, "normal")
        blame = tuple(sorted(AXES[op][name][axis]))
        return Example(inputs, "either", blame, (ValueError,), f"{name} with size {size} on axis {axis}")
    if defect == "scalar":
        scalar = draw(st.sampled_from(sorted(BAD_SCALARS[op])))
        bad, error = draw(st.sampled_from(BAD_SCALARS[op][scalar]))
        inputs[scalar] = bad
        return Example(inputs, "invalid", (scalar,), (error,), f"{scalar}={bad!r}")
    if defect == "dilations":
        layers = inputs["weights"].shape[0]
        dilations = [int(d) for d in inputs["dilations"]]
        choice = draw(st.sampled_from(["longer", "shorter", "zero", "negative", "float", "bool", "str", "none",
                                       "scalar", "set", "float-array"]))
        if choice == "shorter" and not layers:
            choice = "longer"
        error = ValueError if choice in ("longer", "shorter", "zero", "negative") else TypeError
        if choice in ("zero", "negative", "float", "bool", "str", "none") and not layers:
            choice, error = "longer", ValueError
        at = draw(st.integers(0, max(layers - 1, 0)))
        replace = {"zero": 0, "negative": -1, "float": 1.0, "bool": True, "str": "1", "none": None}
        if choice == "longer":
            bad = dilations + [1]
        elif choice == "shorter":
            bad = dilations[:-1]
        elif choice in replace:
            bad = dilations[:at] + [replace[choice]] + dilations[at + 1 :]
        elif choice == "scalar":
            bad = 2
        elif choice == "set":
            bad = set(dilations)
        else:
            bad = np.array(dilations, dtype=np.float64)
        inputs["dilations"] = bad
        return Example(inputs, "invalid", ("dilations",), (error,), f"dilations {choice}: {bad!r}")
    if defect == "missing":
        required = [k for k in inputs if k not in OPTIONAL.get(op, ())]
        gone = draw(st.sampled_from(required))
        del inputs[gone]
        return Example(inputs, "invalid", (gone,), (TypeError,), f"{gone} missing")
    # unexpected
    inputs["alpha"] = 1.0
    return Example(inputs, "invalid", ("alpha",), (TypeError,), "an unknown argument alpha")


# -- one long axis -------------------------------------------------------------


@st.composite
def long_example(draw, op: str) -> Example:
    """One axis of 2**15 to 2**17 (a few thousand steps for the streaming op),
    everything else tiny: the index arithmetic and blocking of long rows,
    within a fraction of a second per call."""
    rng = draw(generator())
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    length = draw(st.integers(2**15, 2**17))

    def a(*shape):
        return fill(rng, shape, dtype, "normal")

    if op == "conv2d":
        k = draw(st.integers(1, 3))
        inputs = {"x": a(1, 1, 1, length), "weight": a(2, 1, 1, k), "bias": a(2), "stride": (1, draw(
            st.integers(1, 3))), "padding": (0, k // 2), "dilation": 1, "groups": 1}
    elif op == "causal_conv1d":
        inputs = {"x": a(1, 2, length), "weight": a(3, 2, 3), "bias": a(3),
                  "dilation": draw(st.sampled_from([1, 7, 1024, length - 1]))}
    elif op == "wavenet_stream":
        steps = length // 64  # 512 to 2048 steps: each is a Python-level loop iteration in some variants
        inputs = {"x": a(1, 1, steps), "weights": a(2, 2, 1, 2) * 0.5, "biases": a(2, 2),
                  "dilations": (1, draw(st.sampled_from([steps // 3, steps - 1])))}
    elif op == "gated_unit":
        inputs = {"x": a(1, 2, length), "kind": draw(st.sampled_from(["tanh", "glu"]))}
    elif op == "lstm_cell":
        inputs = dict(zip(("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"),
                          (a(1, length) / 64, a(1, 1), a(1, 1), a(4, length) / 64, a(4, 1), a(4), a(4))))
    elif op == "convlstm_cell":
        width = length // 4
        inputs = {"x": a(1, 1, 1, width), "h": a(1, 1, 1, width), "c": a(1, 1, 1, width), "weight": a(4, 2, 3, 3),
                  "bias": a(4)}
    elif op == "nms":
        n = length // 16
        inputs = {"boxes": boxes_of(rng, n, dtype, "grid"), "scores": scores_of(rng, n, dtype, "distinct"),
                  "iou_threshold": 0.5, "score_threshold": None}
    else:
        inputs = {"boxes1": boxes_of(rng, length, dtype, "uniform"), "boxes2": boxes_of(rng, 3, dtype, "uniform")}
        if draw(st.booleans()):
            inputs = {"boxes1": inputs["boxes2"], "boxes2": inputs["boxes1"]}
    return Example(inputs, what=f"one axis of {length}")


# -- the extension's entry points, without the spec's checks -------------------

TORCH_DTYPES = ("float16", "bfloat16", "int32", "int64", "bool", "complex64", "float32", "float64")


@st.composite
def ext_example(draw, op: str) -> Example:
    """Torch tensors for ``op``'s extension function, from a valid case changed
    in up to three ways the spec would have caught or repaired: a dtype, a
    non-contiguous or offset view, a rank, a size, an extreme scalar."""
    import torch

    import impls

    raw = draw(valid_inputs(op, small=True, extreme=False))
    try:  # the canonical spellings the spec hands the extension (pairs as tuples)
        inputs = impls.spec(op).validate(**raw)
    except (ValueError, TypeError):
        inputs = dict(raw)
    # Scalars as the caller gave them: the spec clamps strides and dilations
    # that the extension must survive unclamped.
    for name, value in raw.items():
        if isinstance(value, (int, np.integer)) and isinstance(inputs.get(name), tuple):
            inputs[name] = (int(value),) * len(inputs[name])
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            inputs[name] = int(value)
        elif isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.dtype.kind in "iu"):
            if all(isinstance(v, (int, np.integer)) for v in value):
                inputs[name] = tuple(int(v) for v in value)
    if op == "conv2d":  # the extension's CPU algorithms, besides "auto"
        inputs["algorithm"] = draw(st.sampled_from(["auto", "direct", "im2col", "winograd"]))
    tensors = {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            tensors[name] = torch.from_numpy(fenced(value, draw(st.sampled_from(["after", "before"]))))
        else:
            tensors[name] = value
    changes = []
    for _ in range(draw(st.integers(0, 3))):
        arrays = [k for k, v in tensors.items() if isinstance(v, torch.Tensor)]
        change = draw(st.sampled_from(["dtype", "layout", "rank", "size", "scalar"]))
        name = draw(st.sampled_from(arrays))
        t = tensors[name]
        if change == "dtype":
            dtype = draw(st.sampled_from(TORCH_DTYPES))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # complex to real drops the imaginary part: intended
                tensors[name] = t.to(getattr(torch, dtype))
        elif change == "layout" and t.dim():
            how = draw(st.sampled_from(["transposed", "strided", "expanded", "offset", "channels-last"]))
            if how == "transposed" and t.dim() >= 2:
                tensors[name] = t.transpose(0, -1).contiguous().transpose(0, -1)
            elif how == "strided":
                wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
                wide[..., ::2] = t
                tensors[name] = wide[..., ::2]
            elif how == "expanded" and t.shape[0]:
                tensors[name] = t[:1].expand(t.shape)
            elif how == "channels-last" and t.dim() == 4:
                tensors[name] = t.contiguous(memory_format=torch.channels_last)
            else:  # a contiguous view that starts inside its storage
                storage = torch.zeros(t.numel() + 3, dtype=t.dtype)
                storage[3:] = t.reshape(-1)
                tensors[name] = storage[3:].view(t.shape)
            how = f"{how} layout"
        elif change == "rank":
            if t.dim() and draw(st.booleans()):
                axis = draw(st.integers(0, t.dim() - 1))
                fewer = t.shape[:axis] + t.shape[axis + 1 :]
                tensors[name] = t.select(axis, 0) if t.shape[axis] else torch.zeros(fewer, dtype=t.dtype)
            else:
                tensors[name] = t.unsqueeze(draw(st.integers(0, t.dim())))
        elif change == "size" and t.dim():
            axis = draw(st.integers(0, t.dim() - 1))
            shape = list(t.shape)
            shape[axis] = draw(st.integers(0, 6))
            tensors[name] = torch.randn(shape, dtype=torch.float64).to(t.dtype) if t.is_floating_point() else \
                torch.zeros(shape, dtype=t.dtype)
        elif change == "scalar":
            scalars = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor) and v is not None]
            if not scalars:
                continue
            name = draw(st.sampled_from(scalars))
            tensors[name] = draw(_extreme_scalar(tensors[name], name))
        changes.append(f"{change} of {name}")
    return Example(tensors, "either", tuple(tensors), what="; ".join(changes) or "unchanged")


@st.composite
def _extreme_scalar(draw, value, name: str):
    # A padding of 2**31 asks, validly, for an output of gigabytes, which the
    # OS may grant lazily and then kill the process for; 2**62 and up overflow
    # the padded size, which the extension must refuse.
    huge = [2**62, 2**63 - 1, -(2**63)] if name == "padding" else [2**31 - 1, 2**31, 2**62, 2**63 - 1, -(2**63)]
    ints = st.one_of(st.integers(-3, 8), st.sampled_from(huge))
    if isinstance(value, str):
        return draw(st.sampled_from(["tanh", "glu", "", "Tanh", "relu"]))
    if isinstance(value, (tuple, list)) or isinstance(value, np.ndarray):
        length = len(value) if draw(st.integers(0, 3)) else draw(st.integers(0, 3))  # mostly the right length
        return [draw(ints) for _ in range(length)]
    if isinstance(value, (float, np.floating)):
        return draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-0.0, 1e-300])))
    return draw(ints)
