"""The CuPy backend run on the CPU: every op's ``impls/<op>/cupy.py`` with its
CUDA C kernels compiled by g++ against tests/cuda_emulator.h, NumPy arrays
standing in for cupy's (tests/fake_cupy.py), checked against the op's
float64 reference on its small cases and all its edge cases, in float32 and
float64.

This is no substitute for running on a GPU (the correctness matrix does that
where there is one): the emulator has no warps, no memory model and no
NVRTC.  What it does check, without a GPU: the kernels' index arithmetic and
bounds (guard bands around every array), their barriers (each CUDA thread is
an OS thread), the launch shapes and argument types the Python side passes,
and the host code around the kernels -- sorting, buffers, GEMMs, empty
inputs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import impls
from impls import boxes as box_generators
from impls import cupy_support

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fake_cupy  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="the CUDA emulator needs g++")


@pytest.fixture(scope="module", autouse=True)
def emulated_cupy():
    """cupy_support hands out the fake module; compiled modules are forgotten
    before and after, so neither side sees the other's kernels."""
    impls.ops()
    saved = cupy_support._cupy
    for source in cupy_support.SOURCES:
        source.clear()
    cupy_support._cupy = fake_cupy
    yield fake_cupy
    cupy_support._cupy = saved
    for source in cupy_support.SOURCES:
        source.clear()


def _cupy_impl(op):
    return impls.get(op, "cupy", "cuda")


def _check(op, inputs, **extra):
    spec = impls.spec(op)
    checked = spec.validate(**inputs)
    expected = spec.reference(**checked)
    output = _cupy_impl(op).fn(**checked, **extra)
    if isinstance(output, tuple):
        output = tuple(np.asarray(o) for o in output)
        assert all(o.dtype == spec.output_dtype(checked) for o in output)
    else:
        output = np.asarray(output)
        assert output.dtype == spec.output_dtype(checked), output.dtype
    verdict = spec.compare(output, expected, checked)
    assert verdict.ok, verdict.message


def _params(kind):
    params = []
    for op in impls.ops():
        spec = impls.spec(op)
        for dtype in spec.dtypes:
            if kind == "case":
                params += [pytest.param(op, c.name, dtype, id=f"{op}-{c.name}-{dtype}") for c in spec.cases if c.small]
            else:
                params += [pytest.param(op, e, dtype, id=f"{op}-{e}-{dtype}") for e, _ in spec.edge_cases(dtype)]
    return params


@pytest.mark.parametrize("op, case_name, dtype", _params("case"))
def test_emulated_cupy_matches_reference_on_small_case(op, case_name, dtype):
    spec = impls.spec(op)
    _check(op, spec.make_inputs(spec.case(case_name), dtype, seed=3))


@pytest.mark.parametrize("op, edge_id, dtype", _params("edge"))
def test_emulated_cupy_matches_reference_on_edge_case(op, edge_id, dtype):
    _check(op, dict(impls.spec(op).edge_cases(dtype))[edge_id])


@pytest.mark.parametrize(
    "op, case_name",
    [("gated_unit", "tanh-small"), ("gated_unit", "glu-small"), ("causal_conv1d", "small"), ("lstm_cell", "small"),
     ("convlstm_cell", "small"), ("conv2d", "small-strided-grouped"), ("box_iou", "100x100")],
)
def test_grid_stride_loops_cover_everything_with_few_blocks(op, case_name, monkeypatch):
    """With grids capped at one block per dimension, every grid-stride loop
    must still visit every element (box_iou: every row tile)."""
    monkeypatch.setattr(cupy_support, "MAX_BLOCKS", 1)
    spec = impls.spec(op)
    _check(op, spec.make_inputs(spec.case(case_name), "float32", seed=4))


@pytest.mark.parametrize("im2col_step", [1, 2, 3])
def test_conv2d_im2col_steps_that_do_not_divide_the_batch(im2col_step):
    rng = np.random.default_rng(5)
    inputs = {"x": rng.standard_normal((5, 4, 7, 6)).astype(np.float32),
              "weight": rng.standard_normal((6, 2, 3, 2)).astype(np.float32),
              "bias": rng.standard_normal(6).astype(np.float32),
              "stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}
    _check("conv2d", inputs, im2col_step=im2col_step)


@pytest.mark.parametrize("distribution, n", [("detector", 700), ("uniform", 700), ("uniform", 130)])
def test_nms_over_many_words_with_ties_and_score_threshold(distribution, n):
    """Several 64-box words, so the reduction's cross-word masks matter;
    duplicated scores (ties) and a score threshold on top."""
    rng = np.random.default_rng(6)
    boxes, scores = box_generators.GENERATORS[distribution](n, rng)
    scores = np.round(scores * 40) / 40  # many equal scores: lower index first
    for score_threshold in (None, 0.3):
        for iou_threshold in (0.0, 0.3, 0.7):
            _check("nms", {"boxes": boxes.astype(np.float32), "scores": scores.astype(np.float32),
                           "iou_threshold": iou_threshold, "score_threshold": score_threshold})


def test_wavenet_stream_with_the_real_dilations():
    """Twenty layers, dilations 1 .. 512 twice: queues of up to 512 slots."""
    spec = impls.spec("wavenet_stream")
    inputs = spec.make_inputs(spec.case("b1-c32-20layers"), "float32", seed=7)
    inputs["x"] = np.ascontiguousarray(inputs["x"][:, :, :96])
    _check("wavenet_stream", inputs)


def test_emulator_catches_an_out_of_bounds_write():
    source = "template <typename T> __global__ void overrun(T* out, long long n) { out[n] = T(1); }\n"
    kernel = fake_cupy.RawModule(code=source, name_expressions=("overrun<float>",)).get_function("overrun<float>")
    out = np.zeros(8, np.float32)
    kernel((1,), (1,), (out, np.int64(7)))
    assert out[7] == 1
    with pytest.raises(RuntimeError, match="out of the bounds of argument 0"):
        kernel((1,), (1,), (out, np.int64(8)))


def test_emulator_catches_a_missing_barrier_result():
    """Thread 0 reads what thread 1 writes; without the barrier the emulated
    threads race and the read usually misses the write -- with it, never."""
    source = (
        "template <bool kSync> __global__ void handoff(float* out) {\n"
        "  __shared__ float value;\n"
        "  if (threadIdx.x == 1) { for (volatile int i = 0; i < 20000000; ++i) {} value = 42.0f; }\n"
        "  if (kSync) __syncthreads();\n"
        "  if (threadIdx.x == 0) out[0] = value;\n"
        "}\n"
    )
    module = fake_cupy.RawModule(code=source, name_expressions=("handoff<true>", "handoff<false>"))
    out = np.zeros(1, np.float32)
    module.get_function("handoff<true>")((1,), (2,), (out,))
    assert out[0] == 42.0
    misses = 0
    for _ in range(3):  # thread 1 writes ~10 ms after thread 0 starts: a read that early misses it
        out[0] = -1.0
        module.get_function("handoff<false>")((1,), (2,), (out,))
        misses += out[0] != 42.0
    assert misses > 0


def test_emulator_refuses_what_cupy_would_pass_wrongly():
    source = "template <typename T> __global__ void fill(T* out, T value, long long n) { out[threadIdx.x] = value; }\n"
    kernel = fake_cupy.RawModule(code=source, name_expressions=("fill<float>",)).get_function("fill<float>")
    out = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="float for parameter f4"):
        kernel((1,), (4,), (out, 1.5, np.int64(4)))  # CuPy would pass a double
    with pytest.raises(TypeError, match="float64 scalar for parameter f4"):
        kernel((1,), (4,), (out, np.float64(1.5), np.int64(4)))
    with pytest.raises(TypeError, match="array of float64"):
        kernel((1,), (4,), (out.astype(np.float64), np.float32(1.5), np.int64(4)))
    with pytest.raises(ValueError, match="not C-contiguous"):
        kernel((1,), (2,), (np.zeros(8, np.float32)[::2], np.float32(1.5), np.int64(4)))
    with pytest.raises(ValueError, match="every dimension must be >= 1"):
        kernel((0,), (4,), (out, np.float32(1.5), np.int64(4)))
    kernel((1,), (4,), (out, np.float32(1.5), np.int64(4)))
    assert (out == 1.5).all()
