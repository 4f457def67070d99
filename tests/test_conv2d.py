"""conv2d properties beyond the generic matrix: a seeded randomized grid of
shapes and hyper-parameters against torch, im2col_step chunking, group
wiring, and the spec's input generator and cost model."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls.conv2d.spec import output_size

SPEC = impls.spec("conv2d")
CPU_IMPLS = impls.implementations(op="conv2d", device="cpu")
# Backends whose implementation takes an im2col_step keyword.
CHUNKED = [impl for impl in CPU_IMPLS if impl.backend in ("numpy", "numba")]
PYTHON_MAX_FLOPS = 2e5  # a few ms of pure Python


def _require(impl):
    if not impl.available:
        pytest.skip(impl.reason)


def _random_conv(seed: int) -> dict:
    """One valid conv2d problem: every hyper-parameter drawn independently,
    each pair sometimes given as one int, H != W in general."""
    rng = np.random.default_rng(seed)
    dtype = ("float32", "float64")[seed % 2]
    groups = int(rng.choice([1, 1, 2, 3, 4]))
    cin, cout = groups * int(rng.integers(1, 6)), groups * int(rng.integers(1, 6))
    kernel = rng.integers(1, 5, 2)
    stride, dilation, padding = rng.integers(1, 4, 2), rng.integers(1, 4, 2), rng.integers(0, 3, 2)
    extent = dilation * (kernel - 1) + 1
    # From exactly the kernel's extent (one output row) to a dozen rows more.
    size = np.maximum(extent - 2 * padding, 1) + rng.integers(0, 13, 2)
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)
    pair = lambda p: int(p[0]) if p[0] == p[1] and rng.random() < 0.5 else (int(p[0]), int(p[1]))
    return {
        "x": a(int(rng.integers(1, 4)), cin, *map(int, size)),
        "weight": a(cout, cin // groups, *map(int, kernel)),
        "bias": a(cout) if rng.random() < 0.5 else None,
        "stride": pair(stride),
        "padding": pair(padding),
        "dilation": pair(dilation),
        "groups": groups,
    }


@pytest.mark.parametrize("impl", CPU_IMPLS, ids=lambda impl: impl.name)
@pytest.mark.parametrize("seed", range(40))
def test_matches_torch_on_randomized_grid(impl, seed):
    _require(impl)
    inputs = _random_conv(seed)
    checked = SPEC.validate(**inputs)
    if impl.small_only and SPEC.flops(**checked) > PYTHON_MAX_FLOPS:
        pytest.skip("too large for pure Python")
    verdict = SPEC.compare(impl.run(**inputs), SPEC.reference(**checked), checked)
    assert verdict.ok, f"{verdict.message}; inputs {_describe(checked)}"


def _describe(checked):
    return {k: v.shape if isinstance(v, np.ndarray) else v for k, v in checked.items()}


@pytest.mark.parametrize("impl", CHUNKED, ids=lambda impl: impl.name)
def test_im2col_step_gives_same_answer_for_ragged_batches(impl):
    """Steps that leave a short last chunk (7 = 3 + 3 + 1), one image per
    step, and a step larger than the batch all give the unchunked answer."""
    _require(impl)
    rng = np.random.default_rng(7)
    inputs = SPEC.validate(
        x=rng.standard_normal((7, 6, 10, 9)).astype(np.float32),
        weight=rng.standard_normal((4, 3, 3, 2)).astype(np.float32),
        bias=rng.standard_normal(4).astype(np.float32),
        stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2,
    )
    expected = SPEC.reference(**inputs)
    whole = impl.fn(**inputs, im2col_step=7)
    assert SPEC.compare(whole, expected, inputs).ok
    for step in (1, 2, 3, 4, 6, 10):
        chunked = impl.fn(**inputs, im2col_step=step)
        verdict = SPEC.compare(chunked, expected, inputs)
        assert verdict.ok, f"im2col_step={step}: {verdict.message}"
        # Each image's GEMMs are the same whatever the chunk, so the sums are too.
        np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6, err_msg=f"im2col_step={step}")


@pytest.mark.parametrize("impl", CPU_IMPLS, ids=lambda impl: impl.name)
def test_grouped_conv_equals_concatenated_per_group_convs(impl):
    """Output channels of group g see only input channels of group g: a
    check of the group wiring that does not lean on the torch reference."""
    _require(impl)
    rng = np.random.default_rng(3)
    groups, cin_per_group, cout_per_group = 3, 2, 2
    x = rng.standard_normal((2, groups * cin_per_group, 6, 5))
    weight = rng.standard_normal((groups * cout_per_group, cin_per_group, 3, 2))
    bias = rng.standard_normal(groups * cout_per_group)
    common = {"stride": (1, 2), "padding": 1, "dilation": 1}
    grouped = impl.run(x=x, weight=weight, bias=bias, groups=groups, **common)
    per_group = []
    for g in range(groups):
        ci, co = slice(g * cin_per_group, (g + 1) * cin_per_group), slice(g * cout_per_group, (g + 1) * cout_per_group)
        per_group.append(impl.run(x=x[:, ci], weight=weight[co], bias=bias[co], groups=1, **common))
    per_group = np.concatenate(per_group, axis=1)
    np.testing.assert_allclose(grouped, per_group, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", CPU_IMPLS, ids=lambda impl: impl.name)
def test_one_by_one_conv_is_a_channel_matmul(impl):
    _require(impl)
    rng = np.random.default_rng(4)
    x, weight = rng.standard_normal((2, 5, 3, 4)), rng.standard_normal((6, 5, 1, 1))
    y = impl.run(x=x, weight=weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
    np.testing.assert_allclose(y, np.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", CPU_IMPLS, ids=lambda impl: impl.name)
def test_non_contiguous_inputs_give_the_contiguous_answer(impl):
    _require(impl)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 12, 7)).astype(np.float32)
    weight = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    args = {"bias": None, "stride": 1, "padding": 1, "dilation": 1, "groups": 2}
    strided = impl.run(x=x[:, :, ::2], weight=weight.transpose(0, 1, 3, 2), **args)
    contiguous = impl.run(x=x[:, :, ::2].copy(), weight=weight.transpose(0, 1, 3, 2).copy(), **args)
    np.testing.assert_array_equal(strided, contiguous)


def test_int_and_pair_hyper_parameters_are_the_same():
    rng = np.random.default_rng(6)
    inputs = {"x": rng.standard_normal((1, 2, 9, 9)), "weight": rng.standard_normal((2, 2, 3, 3)), "bias": None}
    as_ints = SPEC.validate(**inputs, stride=2, padding=1, dilation=2, groups=1)
    as_pairs = SPEC.validate(**inputs, stride=(2, 2), padding=[1, 1], dilation=(2, 2), groups=1)
    assert (as_ints["stride"], as_ints["padding"], as_ints["dilation"]) == ((2, 2), (1, 1), (2, 2))
    assert (as_pairs["stride"], as_pairs["padding"], as_pairs["dilation"]) == ((2, 2), (1, 1), (2, 2))


def test_output_size_matches_torch_formula_and_reference_shape():
    for h, k, s, p, d in [(56, 3, 1, 1, 1), (224, 7, 2, 3, 1), (56, 3, 1, 2, 2), (5, 5, 1, 0, 1), (11, 2, 4, 0, 1)]:
        x, weight = np.zeros((1, 1, h, h + 1)), np.zeros((1, 1, k, k))
        y = SPEC.reference(**SPEC.validate(x=x, weight=weight, bias=None, stride=s, padding=p, dilation=d, groups=1))
        assert y.shape == (1, 1, output_size(h, k, s, p, d), output_size(h + 1, k, s, p, d))


def test_benchmark_cases_have_the_required_shapes():
    names = {case.name for case in SPEC.cases}
    assert {"resnet", "deep", "stem", "dilated", "resnext-grouped", "depthwise"} <= names
    assert any(case.small for case in SPEC.cases)
    x_shape = lambda name: SPEC.make_inputs(SPEC.case(name))["x"].shape
    assert x_shape("resnet") == (8, 64, 56, 56) and x_shape("stem") == (1, 3, 224, 224)
    depthwise = SPEC.make_inputs(SPEC.case("depthwise"))
    assert depthwise["weight"].shape == (128, 1, 3, 3) and depthwise["groups"] == 128


@pytest.mark.parametrize("case", SPEC.cases, ids=lambda case: case.name)
def test_make_inputs_is_seeded_and_outputs_are_order_one(case):
    # The case's channels and kernel on one image of at most 32 x 32: the
    # output scale comes from the fan-in scaling, not from N or H x W, and
    # the big cases stay cheap.
    hw = case.params["hw"]
    probe = impls.Case("probe", {**case.params, "n": 1, "hw": min(hw, 32) if isinstance(hw, int) else hw}, size=0)
    first, again = SPEC.make_inputs(probe, "float64", seed=11), SPEC.make_inputs(probe, "float64", seed=11)
    for name in ("x", "weight", "bias"):
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["weight"], SPEC.make_inputs(probe, "float64", seed=12)["weight"])
    assert 0.3 < SPEC.reference(**SPEC.validate(**first)).std() < 1.0


def test_cost_model_counts_multiply_adds_bias_and_minimum_traffic():
    resnet = SPEC.validate(**SPEC.make_inputs(SPEC.case("resnet")))
    assert SPEC.flops(**resnet) == 2 * 8 * 64 * 56 * 56 * 64 * 3 * 3
    assert SPEC.bytes_moved(**resnet) == 4 * (8 * 64 * 56 * 56 + 64 * 64 * 3 * 3 + 8 * 64 * 56 * 56)
    dilated = SPEC.validate(**SPEC.make_inputs(SPEC.case("dilated"), "float64"))
    outputs = 8 * 64 * 56 * 56
    assert SPEC.flops(**dilated) == outputs * (2 * 64 * 9 + 1)
    assert SPEC.bytes_moved(**dilated) == 8 * (8 * 64 * 56 * 56 + 64 * 64 * 9 + 64 + outputs)
    for case in SPEC.cases:  # a case's plotted size is its multiply-add FLOPs
        inputs = SPEC.validate(**SPEC.make_inputs(case))
        assert case.size == SPEC.flops(**{**inputs, "bias": None}), case.name


# -- the extension's CPU algorithms ---------------------------------------------
EXT_CPU = [impl for impl in CPU_IMPLS if impl.backend == "ext"]


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@pytest.mark.parametrize("seed", range(40))
def test_ext_algorithms_match_torch_on_randomized_grid(impl, algorithm, seed):
    """Both CPU paths of the extension, whichever one "auto" picks: the
    direct kernel's polyphase copy for every stride and dilation, and the
    im2col + GEMM tiles."""
    _require(impl)
    checked = SPEC.validate(**_random_conv(seed))
    native = impl.prepare(checked)
    result = impl.to_numpy(impl.fn(**native, algorithm=algorithm), checked)
    verdict = SPEC.compare(result, SPEC.reference(**checked), checked)
    assert verdict.ok, f"{algorithm}: {verdict.message}; inputs {_describe(checked)}"


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@pytest.mark.parametrize(
    "shape",
    [
        # (N, Cin, H, W, Cout, k, stride, padding, dilation, groups): several
        # bands per image with a short last one, channel blocks of 8 plus a
        # tail of 4 + 2 + 1, rows narrower than one SIMD vector, a tall image.
        (2, 16, 41, 37, 31, 3, 1, 1, 1, 1),
        (1, 6, 9, 5, 15, (3, 2), (2, 1), (2, 0), (1, 3), 3),
        (3, 4, 130, 11, 8, 5, (1, 2), 2, 1, 2),
        (1, 3, 70, 70, 64, 7, 2, 3, 1, 1),
    ],
    ids=["bands", "narrow-rows", "tall", "stem-like"],
)
def test_ext_algorithms_match_torch_on_tiled_shapes(impl, algorithm, shape):
    _require(impl)
    n, cin, h, w, cout, kernel, stride, padding, dilation, groups = shape
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(8)
    checked = SPEC.validate(
        x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
        weight=rng.uniform(-0.3, 0.3, (cout, cin // groups, kh, kw)).astype(np.float32),
        bias=rng.standard_normal(cout).astype(np.float32),
        stride=stride, padding=padding, dilation=dilation, groups=groups,
    )
    result = impl.to_numpy(impl.fn(**impl.prepare(checked), algorithm=algorithm), checked)
    verdict = SPEC.compare(result, SPEC.reference(**checked), checked)
    assert verdict.ok, f"{algorithm}: {verdict.message}"


def _random_winograd_conv(seed: int) -> dict:
    """A 3 x 3 stride-1 problem for the Winograd path: any dilation, padding
    and groups, sizes from one tile to several bands with ragged edges."""
    rng = np.random.default_rng(1000 + seed)
    dtype = ("float32", "float64")[seed % 2]
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 12)), groups * int(rng.integers(1, 20))
    dilation, padding = rng.integers(1, 4, 2), rng.integers(0, 4, 2)
    size = np.maximum(2 * dilation + 1 - 2 * padding, 1) + rng.integers(0, 40, 2)
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)
    return {"x": a(int(rng.integers(1, 4)), cin, *map(int, size)), "weight": a(cout, cin // groups, 3, 3),
            "bias": a(cout) if rng.random() < 0.5 else None, "stride": 1,
            "padding": (int(padding[0]), int(padding[1])), "dilation": (int(dilation[0]), int(dilation[1])),
            "groups": groups}


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
@pytest.mark.parametrize("seed", range(40))
def test_ext_winograd_matches_torch(impl, seed):
    """Winograd F(2 x 2, 3 x 3) through the 2d-polyphase planes: every
    dilation and padding, tiles overhanging the right and bottom edges, short
    last chunks, channel blocks with tails, both dtypes."""
    _require(impl)
    checked = SPEC.validate(**_random_winograd_conv(seed))
    result = impl.to_numpy(impl.fn(**impl.prepare(checked), algorithm="winograd"), checked)
    verdict = SPEC.compare(result, SPEC.reference(**checked), checked)
    assert verdict.ok, f"winograd: {verdict.message}; inputs {_describe(checked)}"


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
@pytest.mark.parametrize("seed", range(30))
def test_ext_winograd_small_groups_match_torch(impl, seed):
    """The small-group schedule (undilated, at most 16 input channels per
    group): output channels in register blocks of 8, 4, 2, 1 and their 4-wide
    halves with tails, rows of tiles shorter and longer than a vector, every
    padding, both dtypes."""
    _require(impl)
    rng = np.random.default_rng(2000 + seed)
    dtype = ("float32", "float64")[seed % 2]
    groups = int(rng.choice([1, 2, 3, 4]))
    cin, cout = groups * int(rng.integers(1, 17)), groups * int(rng.integers(1, 21))
    padding = rng.integers(0, 4, 2)
    size = np.maximum(3 - 2 * padding, 1) + rng.integers(0, 70, 2)
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)
    checked = SPEC.validate(
        x=a(int(rng.integers(1, 3)), cin, *map(int, size)), weight=a(cout, cin // groups, 3, 3),
        bias=a(cout) if rng.random() < 0.5 else None, stride=1,
        padding=(int(padding[0]), int(padding[1])), dilation=1, groups=groups,
    )
    result = impl.to_numpy(impl.fn(**impl.prepare(checked), algorithm="winograd"), checked)
    verdict = SPEC.compare(result, SPEC.reference(**checked), checked)
    assert verdict.ok, f"winograd: {verdict.message}; inputs {_describe(checked)}"


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
@pytest.mark.parametrize(
    "shape",
    [
        # (N, Cin, H, W, Cout, padding, dilation, groups): several bands per
        # image and chunks across phases and rows, odd sizes, channel tails;
        # outputs of 8 MB or more go out through the streamed band buffer.
        (2, 64, 57, 61, 70, 1, 1, 1),
        (1, 40, 45, 50, 33, (2, 1), (2, 3), 1),
        (2, 96, 30, 30, 64, 3, 3, 2),
        (1, 24, 160, 151, 96, 1, 1, 1),
        (1, 16, 151, 160, 96, 2, 2, 1),
        (2, 48, 37, 45, 54, 1, 1, 6),
        (2, 64, 130, 131, 72, 1, 1, 8),
    ],
    ids=["bands", "dilated-2x3", "dilated-3-groups", "streamed", "streamed-dilated", "small-groups",
         "small-groups-streamed"],
)
def test_ext_winograd_matches_torch_on_tiled_shapes(impl, shape):
    _require(impl)
    n, cin, h, w, cout, padding, dilation, groups = shape
    rng = np.random.default_rng(9)
    checked = SPEC.validate(
        x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
        weight=rng.uniform(-0.1, 0.1, (cout, cin // groups, 3, 3)).astype(np.float32),
        bias=rng.standard_normal(cout).astype(np.float32),
        stride=1, padding=padding, dilation=dilation, groups=groups,
    )
    result = impl.to_numpy(impl.fn(**impl.prepare(checked), algorithm="winograd"), checked)
    verdict = SPEC.compare(result, SPEC.reference(**checked), checked)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
def test_ext_winograd_error_on_the_benchmark_cases(impl):
    """The transforms add up to 4 terms each way: on the 3 x 3 benchmark
    cases (float32, K up to 2304) Winograd's worst error must stay within the
    op's tolerance with room to spare (half of it), like the direct kernel's."""
    _require(impl)
    for case in SPEC.cases:
        p = case.params
        if p["kernel"] != 3 or p["stride"] not in (1, (1, 1)):
            continue
        checked = SPEC.validate(**SPEC.make_inputs(case))
        result = impl.to_numpy(impl.fn(**impl.prepare(checked), algorithm="winograd"), checked)
        expected = SPEC.reference(**checked)
        rtol, atol = SPEC.tolerance(checked)
        excess = np.abs(result - expected) / (atol + rtol * np.abs(expected))
        assert excess.max() <= 0.5, (case.name, float(excess.max()))


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
def test_ext_declares_the_flops_it_performs(impl):
    """What the reports' fraction of peak divides by: Winograd's 16
    multiply-adds per 2 x 2 tile and channel pair, its transforms' 32
    additions per tile and input channel and 24 per tile and output channel,
    and the bias; dilated, the tiles of every phase; the direct kernel, the
    op's own count."""
    _require(impl)
    from impls.backends.ext import ext_module

    flops = ext_module().conv2d_cpu_flops
    n, cin, h, w, cout, groups = 2, 16, 10, 9, 6, 2
    per_tile = 2 * 16 * n * cout * (cin // groups) + 32 * n * cin + 24 * n * cout
    bias = n * cout * h * w  # same-size outputs (padding = dilation)
    shapes = ([n, cin, h, w], [cout, cin // groups, 3, 3], [1, 1])
    assert flops(*shapes, [1, 1], [1, 1], groups, True, "winograd") == per_tile * 5 * 5 + bias
    assert flops(*shapes, [2, 2], [2, 2], groups, False, "winograd") == per_tile * 4 * 3 * 3
    direct = SPEC.validate(
        x=np.zeros((n, cin, h, w), np.float32), weight=np.zeros((cout, cin // groups, 3, 3), np.float32),
        bias=np.zeros(cout, np.float32), stride=1, padding=1, dilation=1, groups=groups,
    )
    assert flops(*shapes, [1, 1], [1, 1], groups, True, "direct") == SPEC.flops(**direct)


@pytest.mark.parametrize("impl", EXT_CPU, ids=lambda impl: impl.name)
def test_ext_checks_its_own_arguments(impl):
    """The extension is callable without the spec in front of it: it must
    reject what it would otherwise read out of bounds, naming the argument."""
    _require(impl)
    import torch

    from impls.backends.ext import ext_module

    conv = ext_module().conv2d
    x, weight, bias = torch.zeros(2, 4, 8, 8), torch.zeros(6, 4, 3, 3), torch.zeros(6)
    ok = {"x": x, "weight": weight, "bias": bias, "stride": (1, 1), "padding": (1, 1), "dilation": (1, 1),
          "groups": 1}
    assert conv(**ok).shape == (2, 6, 8, 8)
    bad = [
        ({"weight": torch.zeros(6, 4, 11, 3)}, r"weight's kernel \(dilated extent 11 x 3\) is larger than the padded"),
        ({"dilation": (1, 5)}, r"weight's kernel \(dilated extent 3 x 11\)"),
        ({"weight": torch.zeros(6, 3, 3, 3)}, r"weight must have Cin / groups = 4"),
        ({"groups": 3}, r"groups must divide the input channels"),
        ({"weight": torch.zeros(6, 1, 3, 3), "groups": 4}, r"groups must divide the output channels"),
        ({"bias": torch.zeros(5)}, r"bias must have shape \(6\)"),
        ({"x": torch.zeros(4, 8, 8)}, r"x must be 4-D"),
        ({"x": torch.zeros(0, 4, 8, 8)}, r"x must have N, Cin, H, W >= 1"),
        ({"x": torch.zeros(2, 4, 8, 16)[..., ::2]}, r"x must be contiguous"),
        ({"weight": weight.double()}, r"weight must have the dtype of x"),
        ({"stride": (1, 1, 1)}, r"stride must be a pair"),
        ({"stride": (0, 1)}, r"stride must be >= 1"),
        ({"padding": (-1, 0)}, r"padding must be >= 0"),
        ({"groups": 0}, r"groups must be >= 1"),
    ]
    for change, pattern in bad:
        with pytest.raises((ValueError, TypeError, RuntimeError), match=pattern):
            conv(**{**ok, **change})
    with pytest.raises(ValueError, match=r"algorithm must be 'auto', 'direct', 'im2col' or 'winograd'"):
        conv(**ok, algorithm="fft")
    with pytest.raises(ValueError, match=r"algorithm 'winograd' needs a 3 x 3 kernel at stride 1; got kernel 3 x 3, "
                                         r"stride \(2, 1\)"):
        conv(**{**ok, "stride": (2, 1)}, algorithm="winograd")
    with pytest.raises(ValueError, match=r"dilation \(1, 4000000000\) asks algorithm 'winograd' for a polyphase copy"):
        conv(**{**ok, "padding": (1, 4000000000), "dilation": (1, 4000000000)}, algorithm="winograd")
