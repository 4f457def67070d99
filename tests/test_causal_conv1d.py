"""Properties of causal_conv1d beyond the generic matrix: causality, the
Conv1d + chomp equivalence, the impulse response, and the degenerate
kernels and dilations."""

from __future__ import annotations

import numpy as np
import pytest

import impls

OP = "causal_conv1d"


def _cpu_impls():
    return [pytest.param(impl, id=impl.name) for impl in impls.implementations(op=OP, device="cpu")]


def _require(impl):
    if not impl.available:
        pytest.skip(impl.reason)


def _inputs(n=2, cin=3, cout=4, k=3, length=40, dilation=2, dtype="float64", seed=0, bias=True):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((n, cin, length)).astype(dtype),
        "weight": rng.standard_normal((cout, cin, k)).astype(dtype),
        "bias": rng.standard_normal(cout).astype(dtype) if bias else None,
        "dilation": dilation,
    }


def _assert_matches(impl, inputs, expected):
    spec = impls.spec(OP)
    checked = spec.validate(**inputs)
    verdict = spec.compare(impl.run(**inputs), expected, checked)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("impl", _cpu_impls())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_causal_output_ignores_future(impl, dtype):
    """Changing x[..., t0:] leaves y[..., :t0] bit for bit as it was."""
    _require(impl)
    inputs = _inputs(k=3, length=48, dilation=5, dtype=dtype)
    before = impl.run(**inputs)
    rng = np.random.default_rng(7)
    for t0 in (0, 1, 17, 47):
        changed = dict(inputs, x=inputs["x"].copy())
        changed["x"][..., t0:] = rng.standard_normal(changed["x"][..., t0:].shape).astype(dtype) * 100
        after = impl.run(**changed)
        np.testing.assert_array_equal(after[..., :t0], before[..., :t0])
        assert not np.array_equal(after[..., t0:], before[..., t0:])


@pytest.mark.parametrize("impl", _cpu_impls())
@pytest.mark.parametrize("k, dilation", [(2, 1), (2, 64), (3, 4), (5, 3)])
def test_matches_conv1d_with_chomp(impl, k, dilation):
    """torch.nn.Conv1d with padding (k-1)*dilation, then the last
    (k-1)*dilation outputs chomped (the TCN Chomp1d), is the op."""
    _require(impl)
    torch = pytest.importorskip("torch")
    inputs = _inputs(n=2, cin=4, cout=6, k=k, length=70, dilation=dilation)
    padding = (k - 1) * dilation
    conv = torch.nn.Conv1d(4, 6, k, dilation=dilation, padding=padding).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(inputs["weight"]))
        conv.bias.copy_(torch.from_numpy(inputs["bias"]))
        chomped = conv(torch.from_numpy(inputs["x"]))[:, :, :-padding].numpy()
    np.testing.assert_allclose(impls.spec(OP).reference(**inputs), chomped, rtol=1e-12, atol=1e-12)
    _assert_matches(impl, inputs, chomped)


@pytest.mark.parametrize("impl", _cpu_impls())
def test_impulse_response_is_the_kernel_spread_by_dilation(impl):
    """A unit impulse at time t0 in input channel i comes out as
    weight[o, i, j] at time t0 + (k-1-j) * dilation, and nowhere else."""
    _require(impl)
    k, dilation, t0, length = 4, 3, 5, 30
    inputs = _inputs(n=1, cin=2, cout=3, k=k, length=length, dilation=dilation, bias=False)
    inputs["x"] = np.zeros_like(inputs["x"])
    inputs["x"][0, 1, t0] = 1.0
    expected = np.zeros((1, 3, length))
    for j in range(k):
        expected[0, :, t0 + (k - 1 - j) * dilation] = inputs["weight"][:, 1, j]
    _assert_matches(impl, inputs, expected)


@pytest.mark.parametrize("impl", _cpu_impls())
def test_kernel_one_is_pointwise_whatever_the_dilation(impl):
    _require(impl)
    inputs = _inputs(k=1, dilation=7)
    expected = np.einsum("oi,nit->not", inputs["weight"][:, :, 0], inputs["x"]) + inputs["bias"][:, None]
    _assert_matches(impl, inputs, expected)


@pytest.mark.parametrize("impl", _cpu_impls())
def test_dilation_beyond_length_sees_only_the_padding(impl):
    """Every older tap reaches before t = 0, so only the present tap acts."""
    _require(impl)
    inputs = _inputs(k=3, length=9, dilation=9)
    expected = np.einsum("oi,nit->not", inputs["weight"][:, :, -1], inputs["x"]) + inputs["bias"][:, None]
    _assert_matches(impl, inputs, expected)


@pytest.mark.parametrize("impl", _cpu_impls())
def test_accepts_numpy_int_dilation_and_noncontiguous_input(impl):
    _require(impl)
    inputs = _inputs(k=2, length=20, dilation=3)
    expected = impls.spec(OP).reference(**inputs)
    wide = np.zeros((2, 3, 40))
    wide[:, :, ::2] = inputs["x"]
    _assert_matches(impl, dict(inputs, x=wide[:, :, ::2], dilation=np.int64(3)), expected)


def test_reference_shifts_taps_by_dilation():
    """The reference against the definition written out sample by sample."""
    inputs = _inputs(n=1, cin=2, cout=2, k=3, length=12, dilation=4)
    x, w, b, d = inputs["x"], inputs["weight"], inputs["bias"], inputs["dilation"]
    expected = np.empty((1, 2, 12))
    for o in range(2):
        for t in range(12):
            expected[0, o, t] = b[o] + sum(
                w[o, i, j] * x[0, i, t - (2 - j) * d] for i in range(2) for j in range(3) if t - (2 - j) * d >= 0
            )
    np.testing.assert_allclose(impls.spec(OP).reference(**inputs), expected, rtol=1e-13, atol=1e-13)


def test_cases_have_the_issue_shapes():
    spec = impls.spec(OP)
    names = {case.name for case in spec.cases}
    assert {"small", "tcn", "wavenet-d1", "wavenet-d64", "wavenet-d512"} <= names
    for dilation in (1, 64, 512):
        params = spec.case(f"wavenet-d{dilation}").params
        assert (params["n"], params["cin"], params["cout"], params["k"], params["length"]) == (4, 64, 128, 2, 16000)
        assert params["dilation"] == dilation
    assert any(case.small for case in spec.cases)


# -- the extension's tiled CPU kernel -------------------------------------------
EXT_CPU = [p for p in _cpu_impls() if p.values[0].backend == "ext"]


@pytest.mark.parametrize("impl", EXT_CPU)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "n, cin, cout, k, length, dilation",
    [
        # Lengths around the register block (32 or 48 times in float32, 16 or
        # 24 in float64) and output channels around its 8 (tails of 4, 2, 1).
        (1, 3, 1, 2, 1, 1),
        (2, 5, 7, 3, 15, 2),
        (1, 4, 9, 2, 16, 3),
        (1, 4, 13, 2, 17, 1),
        (3, 2, 17, 4, 47, 5),
        (1, 6, 8, 2, 49, 48),
        # Several bands per sample (tiles of >= 256 times), the last one short,
        # with the older taps reaching across band boundaries.
        (2, 8, 12, 3, 1337, 100),
        (1, 16, 24, 2, 2500, 700),
        # Outputs in pairs (t, t + d) (dilations of at least one SIMD vector,
        # sequences of at least 8 d): an even k, odd k with an unpaired last
        # tap, lengths that end inside a pair's first or second half, and
        # bands of pairs whose runs of d times straddle band boundaries.
        (2, 8, 9, 2, 1000, 16),
        (1, 5, 12, 3, 700, 40),
        (1, 3, 4, 4, 999, 33),
        (2, 4, 17, 5, 3000, 100),
        (1, 6, 8, 2, 4100, 512),
        # Sequences shorter than the shift: older taps read only padding.
        (1, 3, 5, 3, 5, 4),
        (2, 4, 6, 2, 40, 41),
        (1, 2, 3, 5, 7, 1000),
    ],
    ids=lambda v: str(v),
)
def test_ext_matches_reference_across_tile_and_block_boundaries(impl, dtype, n, cin, cout, k, length, dilation):
    _require(impl)
    inputs = _inputs(n=n, cin=cin, cout=cout, k=k, length=length, dilation=dilation, dtype=dtype, seed=length)
    inputs["weight"] /= np.sqrt(cin * k).astype(dtype)
    _assert_matches(impl, inputs, impls.spec(OP).reference(**inputs))


@pytest.mark.parametrize("impl", EXT_CPU)
def test_ext_per_tap_copies_for_dilations_longer_than_a_band(impl):
    """Many channels make the band short (the tile's copy must fit in L2):
    a dilation longer than the band copies each tap's window on its own
    instead of one window per channel spanning the dilation."""
    _require(impl)
    inputs = _inputs(n=1, cin=600, cout=9, k=3, length=1900, dilation=500, dtype="float32", seed=5)
    inputs["weight"] /= np.float32(np.sqrt(600 * 3))
    _assert_matches(impl, inputs, impls.spec(OP).reference(**inputs))


@pytest.mark.parametrize("impl", EXT_CPU)
def test_ext_checks_its_own_arguments(impl):
    """The extension is callable without the spec in front of it: it must
    reject what it would otherwise read out of bounds, naming the argument,
    with the spec's error types."""
    _require(impl)
    torch = pytest.importorskip("torch")
    from impls.backends.ext import ext_module

    conv = ext_module().causal_conv1d
    x, weight, bias = torch.zeros(2, 4, 10), torch.zeros(6, 4, 3), torch.zeros(6)
    assert conv(x, weight, bias, 2).shape == (2, 6, 10)
    assert conv(x, weight, None, 2).shape == (2, 6, 10)
    bad = [
        ((torch.zeros(4, 10), weight, bias, 1), ValueError, r"x must be 3-D"),
        ((x, torch.zeros(6, 4), bias, 1), ValueError, r"weight must be 3-D"),
        ((x, torch.zeros(6, 3, 3), bias, 1), ValueError, r"weight must have shape \(Cout, Cin, k\) with Cin = 4"),
        ((x, torch.zeros(6, 4, 0), bias, 1), ValueError, r"weight must have Cout >= 1 and k >= 1"),
        ((torch.zeros(0, 4, 10), weight, bias, 1), ValueError, r"x must have at least one sample"),
        ((x, weight, torch.zeros(5), 1), ValueError, r"bias must have shape \(6\)"),
        ((x, weight, torch.zeros(6, 1), 1), ValueError, r"bias must be 1-D"),
        ((torch.zeros(2, 4, 20)[..., ::2], weight, bias, 1), ValueError, r"x must be contiguous"),
        ((x.int(), weight, bias, 1), TypeError, r"x must have dtype float32 or float64"),
        ((x, weight.double(), bias, 1), TypeError, r"weight must have the dtype of x"),
        ((x, weight, bias.double(), 1), TypeError, r"bias must have the dtype of x"),
        ((x, weight, bias, 0), ValueError, r"dilation must be >= 1"),
        ((x, weight, bias, 2**62), ValueError, r"dilation must keep \(k-1\) \* dilation below 2\^61"),
    ]
    for args, error, pattern in bad:
        with pytest.raises(error, match=pattern):
            conv(*args)
    # The largest dilations it accepts: every older tap reads padding only.
    generator = torch.Generator().manual_seed(0)
    for k, length, dilation in ((3, 10, 2**59), (2, 4096, 2**61 - 1)):
        x = torch.randn(2, 4, length, generator=generator)
        weight = torch.randn(6, 4, k, generator=generator)
        present = torch.einsum("oi,nit->not", weight[:, :, -1], x) + bias[:, None]
        torch.testing.assert_close(conv(x, weight, bias, dilation), present)


def test_ext_declares_the_flops_of_its_tap_pairs():
    """Where the CPU kernel pairs outputs (dilation >= a SIMD vector, sequence
    >= 8 dilations) it declares 3/4 of the plain convolution's products for
    k = 2 (whole pairs), plus its transforms' additions: 2 per pair, input
    channel and tap pair, 1 per output; elsewhere the op's own count."""
    (ext,) = [impl for impl in impls.implementations(op=OP, device="cpu") if impl.backend == "ext"]
    _require(ext)
    spec = impls.spec(OP)
    paired = spec.validate(**_inputs(n=4, cin=8, cout=16, k=2, length=16_000, dilation=64, dtype="float32"))
    outputs = 4 * 16 * 16_000
    bias = outputs
    products = spec.flops(**paired) - bias
    transforms = 2 * (4 * 8_000) * 8 + outputs  # 8 000 pairs per sample; one sum per output
    assert ext.work_flops(paired) == pytest.approx(0.75 * products + transforms + bias)
    plain = spec.validate(**_inputs(n=4, cin=8, cout=16, k=2, length=100, dilation=64, dtype="float32"))
    assert ext.work_flops(plain) == spec.flops(**plain)
    k3 = spec.validate(**_inputs(n=1, cin=2, cout=3, k=3, length=4096, dilation=32, dtype="float64", bias=False))
    pairs = 4096 // 64 * 32 + min(4096 % 64, 32)  # every pair (t, t + d) the kernel computes
    assert ext.work_flops(k3) == 2.0 * 3 * pairs * 2 * (3 + 2) + 2 * pairs * 2 * 1 + 3 * 4096
