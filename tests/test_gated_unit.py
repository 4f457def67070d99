"""gated_unit: properties every implementation must have, and the accuracy of
the Numba kernels' sigmoid/tanh approximation against float64."""

from __future__ import annotations

import numpy as np
import pytest

import impls

OP = "gated_unit"
CPU_IMPLS = [pytest.param(impl, id=impl.name) for impl in impls.implementations(op=OP, device="cpu")]


def _run(impl, x, kind):
    if not impl.available:
        pytest.skip(impl.reason)
    return impl.run(x=x, kind=kind)


def _halves(a, b, dtype):
    """x of shape (1, 2C, L) from its two halves a, b of shape (C, L)."""
    return np.concatenate([np.asarray(a, dtype), np.asarray(b, dtype)])[None]


# -- the approximation used by the Numba kernels ------------------------------

@pytest.fixture(scope="module")
def activations():
    pytest.importorskip("numba")
    from impls import numba_activations

    return numba_activations


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_sigmoid_and_tanh_stay_within_documented_bound_on_dense_sweep(activations, dtype):
    # Every 1e-5 over [-20, 20] (4M points) plus tiny magnitudes down to 1e-30,
    # where a tanh built from exp alone would lose everything to cancellation.
    tiny = np.logspace(-30, 0, 100_001)
    z = np.concatenate([np.linspace(-20.0, 20.0, 4_000_001), tiny, -tiny]).astype(dtype)
    z64 = z.astype(np.float64)
    gate = z[::-1].copy()
    expected = {
        "sigmoid": 1.0 / (1.0 + np.exp(-z64)),
        "tanh": np.tanh(z64),
        "tanh_sigmoid": np.tanh(z64) / (1.0 + np.exp(-gate.astype(np.float64))),
    }
    got = {
        "sigmoid": activations.sigmoid_array(z),
        "tanh": activations.tanh_array(z),
        "tanh_sigmoid": activations.tanh_sigmoid_array(z, gate),
    }
    bound = activations.MAX_REL_ERROR[dtype]
    for name in expected:
        assert got[name].dtype == np.dtype(dtype), name
        rel = np.abs(got[name] - expected[name]) / np.abs(expected[name]).clip(np.finfo(dtype).tiny)
        worst = int(np.argmax(rel))
        assert rel[worst] <= bound, f"{name}: relative error {rel[worst]:.3g} at z = {z[worst]!r} exceeds {bound:g}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_activations_saturate_to_exact_limits_without_overflow(activations, dtype):
    finfo = np.finfo(dtype)
    z = np.array([80.0, -80.0, 1e4, -1e4, finfo.max, -finfo.max], dtype)
    sigmoid, tanh = activations.sigmoid_array(z), activations.tanh_array(z)
    assert np.isfinite(sigmoid).all() and np.isfinite(tanh).all()
    assert (sigmoid[::2] == 1).all() and (tanh[::2] == 1).all() and (tanh[1::2] == -1).all()
    # Below the clamp sigmoid reads exp(-87) (float32) / exp(-708) (float64): tiny, never 0 or negative.
    assert (sigmoid[1::2] >= 0).all() and (sigmoid[1::2] < 2e-35).all()


def test_numba_tanh_is_exactly_odd_and_exact_at_zero(activations):
    z = np.linspace(-9.0, 9.0, 10_001).astype(np.float32)
    tanh = activations.tanh_array(z)
    assert (tanh == -tanh[::-1]).all()
    assert activations.tanh_array(np.zeros(1, np.float32))[0] == 0
    assert activations.sigmoid_array(np.zeros(1, np.float32))[0] == 0.5


# -- properties of every implementation --------------------------------------

@pytest.mark.parametrize("impl", CPU_IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturation_gives_finite_outputs_and_exact_limits(impl, dtype):
    a = [[80.0, -80.0, 80.0, -80.0, 3.0, -3.0]]
    b = [[80.0, 80.0, -80.0, -80.0, 1e30, 1e30]]
    tanh_out = _run(impl, _halves(a, b, dtype), "tanh")[0, 0]
    glu_out = _run(impl, _halves(a, b, dtype), "glu")[0, 0]
    assert np.isfinite(tanh_out).all() and np.isfinite(glu_out).all()
    assert tanh_out[0] == 1 and tanh_out[1] == -1  # tanh(+-80) * sigmoid(80)
    assert abs(tanh_out[2]) < 1e-30 and abs(tanh_out[3]) < 1e-30  # sigmoid(-80) = 1.8e-35
    assert glu_out[0] == 80 and glu_out[1] == -80  # a * sigmoid(80), and sigmoid(80) rounds to 1
    assert abs(glu_out[2]) < 1e-30 and abs(glu_out[3]) < 1e-30
    assert abs(tanh_out[4] - np.tanh(3.0)) < 1e-6 and abs(tanh_out[5] + np.tanh(3.0)) < 1e-6  # sigmoid(1e30) = 1
    assert glu_out[4] == 3 and glu_out[5] == -3


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_zero_gate_halves_the_signal(impl):
    a = np.linspace(-4, 4, 17)[None]
    out_glu = _run(impl, _halves(a, np.zeros_like(a), "float64"), "glu")[0, 0]
    out_tanh = _run(impl, _halves(a, np.zeros_like(a), "float64"), "tanh")[0, 0]
    np.testing.assert_allclose(out_glu, a[0] / 2, rtol=1e-15, atol=0)
    np.testing.assert_allclose(out_tanh, np.tanh(a[0]) / 2, rtol=4e-15, atol=0)


@pytest.mark.parametrize("impl", CPU_IMPLS)
@pytest.mark.parametrize("kind", ["tanh", "glu"])
def test_output_is_odd_in_the_signal_half(impl, kind):
    # Within the op's float32 tolerance: a tanh computed as 1 - 2 / (1 + exp(2a))
    # need not be bitwise odd (the Numba approximation is; a test above holds it).
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 9)).astype(np.float32)
    out = _run(impl, _halves(a, b, "float32"), kind)
    flipped = _run(impl, _halves(-a, b, "float32"), kind)
    rtol, atol = impls.spec(OP).tolerances["float32"]
    np.testing.assert_allclose(flipped, -out, rtol=rtol, atol=atol)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_shape_and_dtype_follow_x(impl):
    for dtype in ("float32", "float64"):
        x = np.random.default_rng(0).standard_normal((3, 6, 5)).astype(dtype)
        out = _run(impl, x, "tanh")
        assert out.shape == (3, 3, 5) and out.dtype == np.dtype(dtype)


def test_cost_model_counts_one_read_of_x_and_one_write_of_out():
    spec = impls.spec(OP)
    x = np.zeros((4, 128, 16000), np.float32)
    outputs = 4 * 64 * 16000
    assert spec.bytes_moved(x=x, kind="tanh") == 4 * (2 * outputs + outputs)
    assert spec.flops(x=x, kind="tanh") == 5 * outputs
    assert spec.flops(x=x, kind="glu") == 4 * outputs


def test_cases_and_kind_families_are_as_documented():
    spec = impls.spec(OP)
    names = {case.name: case for case in spec.cases}
    assert set(names) == {"tanh-4x128x16000", "glu-4x128x16000", "tanh-small", "glu-small"}
    x = spec.make_inputs(names["glu-4x128x16000"], "float32")["x"]
    assert x.shape == (4, 128, 16000) and x.dtype == np.float32
    assert names["tanh-small"].small and names["glu-small"].small and not names["tanh-4x128x16000"].small
    again = spec.make_inputs(names["tanh-small"], "float64", seed=0)["x"]
    np.testing.assert_array_equal(again, spec.make_inputs(names["tanh-small"], "float64", seed=0)["x"])
