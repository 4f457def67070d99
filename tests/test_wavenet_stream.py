"""Properties of wavenet_stream beyond the generic matrix: causality and the
receptive field, queue == naive == whole-sequence reference per backend, and
the stack as Conv1d + chomp layers or as causal_conv1d layers."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls.wavenet_stream.spec import receptive_extents

OP = "wavenet_stream"


def _cpu_impls():
    return [pytest.param(impl, id=impl.name) for impl in impls.implementations(op=OP, device="cpu")]


def _require(impl):
    if not impl.available:
        pytest.skip(impl.reason)


def _inputs(n=2, channels=3, steps=40, dilations=(1, 2, 4, 1, 2, 4), dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    layers = len(dilations)
    return {
        "x": rng.standard_normal((n, channels, steps)).astype(dtype),
        "weights": (rng.standard_normal((layers, 2 * channels, channels, 2)) / np.sqrt(2 * channels)).astype(dtype),
        "biases": (0.1 * rng.standard_normal((layers, 2 * channels))).astype(dtype),
        "dilations": tuple(dilations),
    }


@pytest.mark.parametrize("impl", _cpu_impls())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_causal_output_ignores_future(impl, dtype):
    """Changing x[..., t0:] leaves y[..., :t0] bit for bit as it was."""
    _require(impl)
    inputs = _inputs(dtype=dtype)
    before = impl.run(**inputs)
    rng = np.random.default_rng(3)
    for t0 in (0, 1, 13, 39):
        changed = dict(inputs, x=inputs["x"].copy())
        changed["x"][..., t0:] = rng.standard_normal(changed["x"][..., t0:].shape).astype(dtype) * 10
        after = impl.run(**changed)
        np.testing.assert_array_equal(after[..., :t0], before[..., :t0])
        assert not np.array_equal(after[..., t0:], before[..., t0:])


@pytest.mark.parametrize("impl", _cpu_impls())
def test_output_ignores_input_older_than_the_receptive_field(impl):
    """y[..., t] depends on x[..., t - R : t + 1] only, R = sum(dilations):
    the naive variants recompute exactly that window, the queues hold it."""
    _require(impl)
    dilations = (1, 2, 4, 3)
    receptive_field = receptive_extents(dilations)[0]
    assert receptive_field == sum(dilations) == 10
    inputs = _inputs(steps=30, dilations=dilations)
    before = impl.run(**inputs)
    changed = dict(inputs, x=inputs["x"].copy())
    changed["x"][..., 5] += 1.0
    after = impl.run(**changed)
    # Step 5 reaches steps 5 .. 5 + R; from 5 + R + 1 on, nothing changes.
    np.testing.assert_array_equal(after[..., 5 + receptive_field + 1 :], before[..., 5 + receptive_field + 1 :])
    assert not np.array_equal(after[..., 5 + receptive_field], before[..., 5 + receptive_field])


@pytest.mark.parametrize("impl", [p for p in _cpu_impls() if p.values[0].name != "python_naive"])
def test_long_dilations_wrap_their_queues(impl):
    """Dilations of 512 and 300 (a queue that is not a power of two) over
    1100 steps: every queue fills, wraps and is read with real data."""
    _require(impl)
    inputs = _inputs(n=1, channels=2, steps=1100, dilations=(512, 1, 300))
    expected = impls.spec(OP).reference(**inputs)
    np.testing.assert_allclose(impl.run(**inputs), expected, rtol=1e-12, atol=1e-12)


def _backends_with_both_variants():
    found = []
    for impl in impls.implementations(op=OP, device="cpu"):
        if impl.name == impl.backend:
            try:
                naive = impls.get(OP, f"{impl.backend}_naive")
            except KeyError:
                continue
            found.append(pytest.param(impl, naive, id=impl.backend))
    return found


@pytest.mark.parametrize("queue, naive", _backends_with_both_variants())
def test_naive_and_queue_match_the_whole_sequence_reference(queue, naive):
    """For every backend, the queue variant, the naive recompute and the
    whole-sequence float64 reference agree to float64 rounding -- on a stack
    whose receptive field (2 * 15 + 1 steps) is shorter than the sequence, so
    both the filling and the steady state of the queues are checked."""
    _require(queue)
    _require(naive)
    small = queue.backend == "python"
    inputs = _inputs(n=2, channels=3 if small else 8, steps=50 if small else 120, dilations=(1, 2, 4, 8) * 2)
    expected = impls.spec(OP).reference(**inputs)
    from_queue, from_naive = queue.run(**inputs), naive.run(**inputs)
    np.testing.assert_allclose(from_queue, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(from_naive, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(from_queue, from_naive, rtol=1e-12, atol=1e-12)


def test_every_backend_has_a_queue_and_a_naive_variant():
    names = {impl.name for impl in impls.implementations(op=OP, device="cpu")}
    for backend in ("python", "numpy", "numba", "torch"):
        assert {backend, f"{backend}_naive"} <= names, backend


def test_reference_is_a_stack_of_causal_conv1d_layers():
    """The same stack built from the causal_conv1d op's reference."""
    inputs = _inputs(n=2, channels=4, steps=60, dilations=(1, 2, 4, 8, 16))
    conv = impls.spec("causal_conv1d")
    state = inputs["x"]
    channels = state.shape[1]
    for w, b, d in zip(inputs["weights"], inputs["biases"], inputs["dilations"]):
        h = conv.reference(x=state, weight=w, bias=b, dilation=d)
        state = state + np.tanh(h[:, :channels]) / (1.0 + np.exp(-h[:, channels:]))
    np.testing.assert_allclose(impls.spec(OP).reference(**inputs), state, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("impl", _cpu_impls())
def test_matches_a_stack_of_conv1d_with_chomp(impl):
    """The WaveNet code form: per layer torch.nn.Conv1d(C, 2C, 2, dilation=d,
    padding=d), the last d outputs chomped, then the gated residual."""
    _require(impl)
    torch = pytest.importorskip("torch")
    inputs = _inputs(n=2, channels=3, steps=40, dilations=(1, 2, 4, 8))
    state = torch.from_numpy(inputs["x"])
    channels = state.shape[1]
    with torch.no_grad():
        for w, b, d in zip(inputs["weights"], inputs["biases"], inputs["dilations"]):
            conv = torch.nn.Conv1d(channels, 2 * channels, 2, dilation=d, padding=d).double()
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
            h = conv(state)[:, :, :-d]
            state = state + torch.tanh(h[:, :channels]) * torch.sigmoid(h[:, channels:])
    expected = state.numpy()
    np.testing.assert_allclose(impls.spec(OP).reference(**inputs), expected, rtol=1e-12, atol=1e-12)
    spec = impls.spec(OP)
    verdict = spec.compare(impl.run(**inputs), expected, spec.validate(**inputs))
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("impl", _cpu_impls())
def test_dilations_accept_a_list_and_numpy_ints(impl):
    _require(impl)
    inputs = _inputs(steps=20, dilations=(1, 2, 3))
    expected = impls.spec(OP).reference(**inputs)
    result = impl.run(**dict(inputs, dilations=[np.int64(1), 2, np.int32(3)]))
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


def test_receptive_extents_are_suffix_sums():
    assert receptive_extents((1, 2, 4, 1, 2, 4)) == [14, 13, 11, 7, 6, 4, 0]
    assert receptive_extents(()) == [0]
    assert receptive_extents(tuple(2**i for i in range(10)) * 2)[0] == 2046


def test_throughput_counts_time_steps():
    spec = impls.spec(OP)
    inputs = spec.make_inputs(spec.case("b1-c64-20layers"))
    assert spec.throughput(**inputs) == (inputs["x"].shape[2], "steps")


def test_cases_have_the_issue_shapes():
    spec = impls.spec(OP)
    wavenet = tuple(2**i for i in range(10)) * 2
    for name, channels in (("b1-c64-20layers", 64), ("b1-c32-20layers", 32)):
        inputs = spec.make_inputs(spec.case(name))
        assert inputs["x"].shape[:2] == (1, channels)
        assert inputs["weights"].shape == (20, 2 * channels, channels, 2)
        assert inputs["dilations"] == wavenet
    assert spec.case("small").small


def test_generated_activations_stay_order_one_through_twenty_layers():
    """The seeded weights keep every layer's pre-activations O(1) -- no gate
    saturates for good -- and the residual stream within ~10."""
    spec = impls.spec(OP)
    conv = impls.spec("causal_conv1d")
    inputs = spec.make_inputs(spec.case("b1-c64-20layers"), "float64")
    state = inputs["x"]
    channels = state.shape[1]
    for w, b, d in zip(inputs["weights"], inputs["biases"], inputs["dilations"]):
        h = conv.reference(x=state, weight=w, bias=b, dilation=d)
        assert 0.5 < h.std() < 3.0
        state = state + np.tanh(h[:, :channels]) / (1.0 + np.exp(-h[:, channels:]))
    assert 2.0 < np.abs(state).max() < 15.0


def test_float32_gate_is_accurate_against_float64():
    """numba's float32 gate uses a rational tanh: its error must stay at the
    level of float32 rounding (the docstring promises <= 3.5e-7 for tanh)."""
    pytest.importorskip("numba")
    from impls.wavenet_stream import numba as numba_impl

    channels = 4096
    h = np.linspace(-14.0, 14.0, 2 * channels).astype(np.float32)
    h = np.random.default_rng(0).permutation(h)
    out = np.empty(channels, np.float32)
    coef = numba_impl._tanh_coefficients(np.float32)
    numba_impl._gate(np.zeros(channels, np.float32), h, out, coef, False)
    h64 = h.astype(np.float64)
    exact = np.tanh(h64[:channels]) * (0.5 + 0.5 * np.tanh(0.5 * h64[channels:]))
    assert np.abs(out - exact).max() < 5e-7


@pytest.mark.parametrize("layer", [0, 7, 12])  # dilations 1, 128, 4 (512 > T reads only padding)
def test_float32_tolerance_still_fails_an_off_by_one_dilation(layer):
    """The float32 tolerance, generous for 20 layers of rounding, must not
    hide a queue read one step off."""
    spec = impls.spec(OP)
    inputs = spec.make_inputs(spec.case("b1-c64-20layers"), "float32")
    checked = spec.validate(**inputs)
    wrong = list(inputs["dilations"])
    wrong[layer] += 1
    off_by_one = spec.reference(**dict(checked, dilations=tuple(wrong))).astype(np.float32)
    assert not spec.compare(off_by_one, spec.reference(**checked), checked).ok


# -- the extension's CPU paths ----------------------------------------------------
EXT_CPU = [p for p in _cpu_impls() if p.values[0].backend == "ext"]


def _ext_run(impl, inputs, threads):
    checked = impls.spec(OP).validate(**inputs)
    return impl.to_numpy(impl.fn(**impl.prepare(checked), threads=threads), checked)


@pytest.mark.parametrize("impl", EXT_CPU)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels", [64, 40, 3], ids=lambda c: f"C{c}")
@pytest.mark.parametrize("threads", [2, 4])
def test_ext_pipeline_matches_one_thread_bit_for_bit(impl, dtype, channels, threads):
    """The stack split over threads (a pipeline: each thread runs a group of
    layers and hands x_l[t] on through the ring of the next group's first
    layer, running ahead by a bounded slack) gives exactly the single-thread
    result -- every layer runs the same code whichever thread runs it -- and
    both match the reference. Four threads on a two-core machine lose their
    cores mid-stream and must wait for each other, sleeping. C = 40 and C = 3
    are not whole SIMD vectors (zero-padded rows in the packed weights); the
    dilations of 256 and more wrap their rings during the 300 steps."""
    _require(impl)
    inputs = _inputs(n=1, channels=channels, steps=300, dilations=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 3, 300),
                     dtype=dtype, seed=channels)
    one = _ext_run(impl, inputs, threads=1)
    for _ in range(3):
        split = _ext_run(impl, inputs, threads=threads)
        np.testing.assert_array_equal(split, one)
    spec = impls.spec(OP)
    checked = spec.validate(**inputs)
    verdict = spec.compare(split, spec.reference(**checked), checked)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("impl", EXT_CPU)
@pytest.mark.parametrize(
    "steps, dilations, threads",
    [
        (40, (1, 50), 2),  # the second stage's first layer reaches past the sequence: no past, slack only
        (100, (64, 1), 2),  # a hand-over ring of dilation 1, filled and wrapped many times over
        (1, (1, 2, 3), 3),  # one step: every stage waits for the one before
        (20, (5,), 4),  # one layer: one stage, however many threads
        (70, (2, 3, 4, 5, 6), 4),  # stages of one and two layers
    ],
    ids=["past-beyond-sequence", "short-dilation-wraps", "one-step", "one-layer", "uneven-stages"],
)
def test_ext_pipeline_hand_over_edge_cases(impl, steps, dilations, threads):
    _require(impl)
    inputs = _inputs(n=2, channels=5, steps=steps, dilations=dilations, dtype="float64", seed=steps)
    expected = impls.spec(OP).reference(**inputs)
    split = _ext_run(impl, inputs, threads=threads)
    np.testing.assert_array_equal(split, _ext_run(impl, inputs, threads=1))
    np.testing.assert_allclose(split, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", EXT_CPU)
def test_ext_batch_runs_each_sample_as_its_own_stream(impl):
    """Every stage of the pipeline runs every sample of the batch: each
    sample's output is bit for bit the output of that sample alone."""
    _require(impl)
    inputs = _inputs(n=3, channels=20, steps=90, dilations=(1, 2, 4, 8, 16, 32, 7), dtype="float32", seed=4)
    batch = _ext_run(impl, inputs, threads=2)
    for sample in range(3):
        alone = _ext_run(impl, dict(inputs, x=inputs["x"][sample : sample + 1]), threads=1)
        np.testing.assert_array_equal(batch[sample : sample + 1], alone)


@pytest.mark.parametrize("impl", EXT_CPU)
def test_ext_checks_its_own_arguments(impl):
    """The extension is callable without the spec in front of it: it must
    reject what it would otherwise read out of bounds, naming the argument."""
    _require(impl)
    torch = pytest.importorskip("torch")
    from impls.backends.ext import ext_module

    stream = ext_module().wavenet_stream
    x, weights, biases, dilations = torch.zeros(1, 2, 6), torch.zeros(3, 4, 2, 2), torch.zeros(3, 4), [1, 2, 4]
    assert stream(x, weights, biases, dilations).shape == (1, 2, 6)
    bad = [
        ((x[0], weights, biases, dilations), ValueError, r"x must be 3-D"),
        ((torch.zeros(0, 2, 6), weights, biases, dilations), ValueError, r"x must have at least one sample"),
        ((x, torch.zeros(3, 4, 3, 2), biases, dilations), ValueError, r"weights must have shape \(layers, 2C, C, 2\)"),
        ((x, torch.zeros(3, 4, 2, 3), biases, dilations), ValueError, r"weights must have shape \(layers, 2C, C, 2\)"),
        ((x, weights, torch.zeros(3, 2), dilations), ValueError, r"biases must have shape \(3, 4\)"),
        ((x, weights, torch.zeros(2, 4), dilations), ValueError, r"biases must have shape \(3, 4\)"),
        ((x, weights, biases, [1, 2]), ValueError, r"dilations must have one entry per layer"),
        ((x, weights, biases, [1, 0, 4]), ValueError, r"dilations must all be >= 1"),
        ((torch.zeros(1, 2, 12)[..., ::2], weights, biases, dilations), ValueError, r"x must be contiguous"),
        ((x.double(), weights, biases, dilations), TypeError, r"weights must have the dtype of x"),
        ((x, weights, biases.half(), dilations), TypeError, r"biases must have dtype float32 or float64"),
    ]
    for args, error, pattern in bad:
        with pytest.raises(error, match=pattern):
            stream(*args)
    for threads in (-1, 2**31):  # OpenMP takes an int
        with pytest.raises(ValueError, match=r"threads must lie in \[0, 2\^31 - 1\]"):
            stream(x, weights, biases, dilations, threads=threads)
