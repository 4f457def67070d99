"""causal_conv1d: the dilated causal 1-D convolution of WaveNet and TCNs."""

from __future__ import annotations

import numpy as np

from impls import checks
from impls.registry import Case, OpSpec, register_spec


def _case(name, n, cin, cout, k, length, dilation, family, small=False):
    params = {"n": n, "cin": cin, "cout": cout, "k": k, "length": length, "dilation": dilation}
    return Case(name, params, size=float(n * cout * cin * k * length), small=small, family=family)


class CausalConv1dSpec(OpSpec):
    """causal_conv1d(x, weight, bias, dilation) -> y

    x (N, Cin, L), weight (Cout, Cin, k), bias (Cout,) or None, all float32 or
    all float64 and finite; dilation an int >= 1.  Returns y (N, Cout, L):

        y[n, o, t] = bias[o] + sum_{i, j} weight[o, i, j] * x[n, i, t - (k-1-j) * dilation]

    with x = 0 at negative times: a Conv1d on x left-padded with
    (k-1) * dilation zeros (the WaveNet/TCN "Conv1d + Chomp1d"), so y[..., t]
    depends on x[..., :t+1] only.  Tap j = k-1 reads the present sample.
    L = 0 gives an empty y; a dilation larger than L is valid (the older
    taps then read only the padding), and validate passes on
    min(dilation, max(L, 1)), which gives the same answer, so no
    implementation pads or indexes by a 2**62 dilation.  N, Cin, Cout and k
    must be >= 1.
    Reference: the k shifted products in float64 NumPy.
    """

    name = "causal_conv1d"
    headline = ("wavenet-d64",)
    inputs = ("x", "weight", "bias", "dilation")
    dtypes = ("float32", "float64")
    cases = (
        _case("small", 2, 8, 8, 3, 64, 4, family="tcn", small=True),
        _case("tcn", 4, 64, 64, 3, 4096, 8, family="tcn"),
        # One WaveNet layer's dilated conv (64 residual -> 128 gate channels,
        # k = 2) at three dilations: the same FLOPs, the older tap further back.
        _case("wavenet-d1", 4, 64, 128, 2, 16000, 1, family="wavenet"),
        _case("wavenet-d64", 4, 64, 128, 2, 16000, 64, family="wavenet"),
        _case("wavenet-d512", 4, 64, 128, 2, 16000, 512, family="wavenet"),
    )
    # Each output sums Cin * k products of O(1 / sqrt(Cin * k)) terms; outputs
    # are O(1).  Summed in float32 in any order (BLAS blocking, oneDNN, a
    # sequential loop over Cin * k) the error is at most ~2e-6 on these cases,
    # which uses under a tenth of (1e-4 relative + 1e-5 absolute).
    tolerances = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}

    def validate(self, x, weight, bias, dilation):
        x = checks.float_array("x", x, ndim=3, dtypes=("float32", "float64"))
        weight = checks.float_array("weight", weight, ndim=3, dtypes=("float32", "float64"))
        checks.same_dtype(x=x, weight=weight)
        cout, cin, k = weight.shape
        if x.shape[0] < 1 or x.shape[1] < 1:
            # N = 0 is refused rather than answered: the pure-Python backend's
            # nested lists cannot carry the (0, Cout, L) shape of the answer.
            raise ValueError(f"x must have at least one sample and one channel; got shape {x.shape}")
        if cin != x.shape[1]:
            raise ValueError(
                f"weight must have shape (Cout, Cin, k) with Cin = {x.shape[1]} (x's channels); got {weight.shape}"
            )
        if cout < 1 or k < 1:
            raise ValueError(f"weight must have Cout >= 1 and k >= 1; got shape {weight.shape}")
        if bias is not None:
            bias = checks.float_array("bias", bias, ndim=1, dtypes=("float32", "float64"))
            checks.same_dtype(x=x, bias=bias)
            checks.shape_is("bias", bias, (cout,))
        dilation = min(checks.positive_int("dilation", dilation), max(x.shape[2], 1))
        return {"x": x, "weight": weight, "bias": bias, "dilation": dilation}

    def reference(self, x, weight, bias, dilation):
        x = x.astype(np.float64)
        weight = weight.astype(np.float64)
        n, _, length = x.shape
        cout, _, k = weight.shape
        y = np.zeros((n, cout, length))
        if bias is not None:
            y += bias.astype(np.float64)[:, None]
        for j in range(k):
            shift = (k - 1 - j) * dilation
            if shift < length:
                y[:, :, shift:] += np.matmul(weight[:, :, j], x[:, :, : length - shift])
        return y

    def make_inputs(self, case, dtype="float32", seed=0):
        p = case.params
        rng = np.random.default_rng(seed)
        # Weights at the fan-in scale (PyTorch's default init) keep y O(1).
        scale = 1.0 / np.sqrt(p["cin"] * p["k"])
        return {
            "x": rng.standard_normal((p["n"], p["cin"], p["length"])).astype(dtype),
            "weight": rng.uniform(-scale, scale, (p["cout"], p["cin"], p["k"])).astype(dtype),
            "bias": rng.uniform(-scale, scale, p["cout"]).astype(dtype),
            "dilation": p["dilation"],
        }

    def flops(self, x, weight, bias, dilation):
        # One multiply-add per (output, tap, input channel), padding included
        # (a dense kernel does that work), plus the bias.
        n, _, length = x.shape
        cout, cin, k = weight.shape
        return 2.0 * n * cout * cin * k * length + (n * cout * length if bias is not None else 0)

    def bytes_moved(self, x, weight, bias, dilation):
        n, _, length = x.shape
        cout = weight.shape[0]
        return x.dtype.itemsize * (x.size + weight.size + (cout if bias is not None else 0) + n * cout * length)

    def edge_cases(self, dtype):
        rng = np.random.default_rng(1)

        def case(n, cin, cout, k, length, dilation, with_bias=True):
            return {
                "x": rng.standard_normal((n, cin, length)).astype(dtype),
                "weight": rng.standard_normal((cout, cin, k)).astype(dtype),
                "bias": rng.standard_normal(cout).astype(dtype) if with_bias else None,
                "dilation": dilation,
            }

        return [
            ("length-one", case(2, 3, 4, 2, 1, 1)),
            ("kernel-one", case(2, 3, 4, 1, 10, 3)),  # k = 1: a pointwise conv, the dilation is moot
            ("dilation-beyond-length", case(1, 3, 2, 3, 5, 7)),  # older taps see only the padding
            ("dilation-equals-length", case(1, 2, 2, 2, 6, 6)),
            ("no-bias", case(2, 3, 4, 3, 9, 2, with_bias=False)),
            ("one-channel", case(1, 1, 1, 2, 7, 2)),
            ("empty-length", case(2, 3, 4, 2, 0, 1)),
            ("wide-kernel", case(1, 2, 3, 6, 12, 1)),
        ]

    def bad_inputs(self):
        x = np.ones((1, 3, 8), np.float32)
        weight = np.ones((4, 3, 2), np.float32)
        bias = np.ones(4, np.float32)

        def case(**kw):
            return {"x": x, "weight": weight, "bias": bias, "dilation": 1, **kw}

        return [
            ("x-wrong-rank", case(x=x[0]), ValueError, r"x must be 3-D"),
            ("weight-wrong-rank", case(weight=weight[:, :, 0]), ValueError, r"weight must be 3-D"),
            (
                "channel-mismatch",
                case(weight=np.ones((4, 2, 2), np.float32)),
                ValueError,
                r"weight must have shape \(Cout, Cin, k\) with Cin = 3",
            ),
            (
                "kernel-zero",
                case(weight=np.ones((4, 3, 0), np.float32)),
                ValueError,
                r"weight must have Cout >= 1 and k >= 1",
            ),
            (
                "x-no-channels",
                case(x=np.ones((1, 0, 8), np.float32), weight=np.ones((4, 0, 2), np.float32)),
                ValueError,
                r"x must have at least one sample and one channel",
            ),
            ("x-empty-batch", case(x=np.ones((0, 3, 8), np.float32)), ValueError, r"x must have at least one sample"),
            ("bias-wrong-length", case(bias=np.ones(3, np.float32)), ValueError, r"bias must have shape \(4\)"),
            ("bias-wrong-rank", case(bias=np.ones((4, 1), np.float32)), ValueError, r"bias must be 1-D"),
            ("x-int", case(x=x.astype(np.int32)), TypeError, r"x must have dtype"),
            ("x-float16", case(x=x.astype(np.float16)), TypeError, r"x must have dtype"),
            ("weight-float64", case(weight=weight.astype(np.float64)), TypeError, r"weight must have the dtype of x"),
            ("bias-float64", case(bias=bias.astype(np.float64)), TypeError, r"bias must have the dtype of x"),
            ("x-nan", case(x=np.full((1, 3, 8), np.nan, np.float32)), ValueError, r"x must be finite"),
            ("weight-inf", case(weight=np.full((4, 3, 2), np.inf, np.float32)), ValueError, r"weight must be finite"),
            ("x-list", case(x=x.tolist()), TypeError, r"x must be a numpy.ndarray"),
            ("dilation-zero", case(dilation=0), ValueError, r"dilation must be >= 1"),
            ("dilation-negative", case(dilation=-2), ValueError, r"dilation must be >= 1"),
            ("dilation-float", case(dilation=2.0), TypeError, r"dilation must be an int"),
            ("dilation-bool", case(dilation=True), TypeError, r"dilation must be an int"),
        ]


SPEC = register_spec(CausalConv1dSpec())
