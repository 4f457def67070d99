"""gated_unit: the gated activation of WaveNet (gated tanh unit) and of GLU."""

from __future__ import annotations

import numpy as np

from impls import checks
from impls.activations import sigmoid
from impls.registry import Case, OpSpec, register_spec

KINDS = ("tanh", "glu")

# Nominal FLOPs per output element, counting each transcendental function and
# each +, *, / as one: sigmoid(b) = 1 / (1 + exp(-b)) is 3, tanh(a) is 1, the
# product 1.  The op is memory-bound (12 bytes per output in float32 against
# 4-5 FLOPs), so GB/s is the figure that matters; FLOPs are a yardstick.
FLOPS_PER_OUTPUT = {"tanh": 5.0, "glu": 4.0}

# The largest |x| the contract takes, per dtype (see the class docstring).
X_LIMIT = {"float32": 2.0**100, "float64": 2.0**960}


class GatedUnitSpec(OpSpec):
    """gated_unit(x, kind) -> out

    x (N, 2C, L), float32 or float64, finite, every size >= 1 (an empty
    dimension is rejected: it has no work and a nested list cannot carry its
    shape).  kind is the str "tanh" or "glu".  With a = x[:, :C] and
    b = x[:, C:] (the first and second halves of the channels):

        tanh: out = tanh(a) * sigmoid(b)   (WaveNet's gated tanh unit)
        glu:  out = a * sigmoid(b)         (torch.nn.functional.glu(x, dim=1))

    out is (N, C, L) in x's dtype.  Large |x| saturates, never overflows:
    sigmoid(80) and tanh(80) round to exactly 1, tanh(-80) to -1, and
    sigmoid(-80) is 1.8e-35.  |x| must not pass X_LIMIT = 2**100 ~ 1.3e30
    in float32 (2**960 ~ 1e289 in float64), a ValueError otherwise: fast
    sigmoids stop being exact where sigmoid(b) drops below the smallest
    normal number (b < -87 in float32) -- stock torch's flushes it to 0, the
    Numba and ext kernels' exp stops at ~1.6e-38 -- and glu's a * sigmoid(b)
    then errs by up to |a| * 1.6e-38: 2e-8 for |a| within the limit, far below
    the tolerance, but 0.14 for a = 8.4e36, b = -5e4 (an exact subnormal tail
    measured 14-25 % slower on the tanh case).
    Reference: float64 NumPy, with the overflow-free sigmoid.
    """

    name = "gated_unit"
    headline = ("tanh-4x128x16000",)
    inputs = ("x", "kind")
    dtypes = ("float32", "float64")
    cases = (
        Case("tanh-small", {"n": 2, "channels": 8, "length": 50, "kind": "tanh"}, size=2 * 4 * 50, small=True,
             family="tanh"),
        Case("tanh-4x128x16000", {"n": 4, "channels": 128, "length": 16000, "kind": "tanh"}, size=4 * 64 * 16000,
             family="tanh"),
        Case("glu-small", {"n": 2, "channels": 8, "length": 50, "kind": "glu"}, size=2 * 4 * 50, small=True,
             family="glu"),
        Case("glu-4x128x16000", {"n": 4, "channels": 128, "length": 16000, "kind": "glu"}, size=4 * 64 * 16000,
             family="glu"),
    )

    def validate(self, x, kind):
        x = checks.float_array("x", x, ndim=3, dtypes=("float32", "float64"))
        if 0 in x.shape:
            raise ValueError(f"x must have no empty dimension (N, 2C, L >= 1); got shape {x.shape}")
        limit = X_LIMIT[x.dtype.name]
        if np.abs(x).max() > limit:
            where = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(x))), x.shape))
            raise ValueError(f"x must have |values| <= {limit:.3g} in {x.dtype} (beyond, a * sigmoid(b) hangs on "
                             f"sigmoid's subnormal tail); got {x[where]:.3g} at {where}")
        if x.shape[1] % 2:
            raise ValueError(f"x must have an even channel count 2C (halves a, b); got {x.shape[1]} channels")
        if not isinstance(kind, str):
            raise TypeError(f"kind must be a str, one of {', '.join(KINDS)}; got {type(kind).__name__}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        return {"x": x, "kind": kind}

    def reference(self, x, kind):
        x = x.astype(np.float64)
        half = x.shape[1] // 2
        a, b = x[:, :half], x[:, half:]
        return (np.tanh(a) if kind == "tanh" else a) * sigmoid(b)

    def make_inputs(self, case, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        p = case.params
        # Standard deviation 2: pre-activations spread over the curved part of
        # tanh and sigmoid and into their tails, not just the linear middle.
        x = 2.0 * rng.standard_normal((p["n"], p["channels"], p["length"]))
        return {"x": x.astype(dtype), "kind": p["kind"]}

    def flops(self, x, kind):
        return FLOPS_PER_OUTPUT[kind] * x.size / 2

    def bytes_moved(self, x, kind):
        return x.itemsize * (x.size + x.size // 2)  # read x, write out (half of x's size)

    def edge_cases(self, dtype):
        def x_of(values, shape):
            return np.asarray(values, dtype=dtype).reshape(shape)

        # Saturation: a and b take every sign of a large magnitude, so tanh and
        # sigmoid reach their limits (+-1, 0, 1) and nothing may overflow into NaN.
        big = [80.0, -80.0, 80.0, -80.0]
        gate = [80.0, 80.0, -80.0, -80.0]
        huge = [1e30, -1e30, 3.0, -3.0]
        huge_gate = [1e30, -1e30, -1e30, 1e30]
        edges = []
        for kind in KINDS:
            edges += [
                (f"{kind}-one-element", {"x": x_of([0.5, -1.5], (1, 2, 1)), "kind": kind}),
                (f"{kind}-one-channel", {"x": x_of(np.linspace(-6, 6, 14), (1, 2, 7)), "kind": kind}),
                (f"{kind}-length-one", {"x": x_of(np.linspace(-4, 4, 3 * 8), (3, 8, 1)), "kind": kind}),
                (f"{kind}-zeros", {"x": np.zeros((2, 4, 5), dtype), "kind": kind}),
                (f"{kind}-saturated-80", {"x": x_of(big + gate, (1, 2, 4)), "kind": kind}),
                (f"{kind}-saturated-1e30", {"x": x_of(huge + huge_gate, (1, 2, 4)), "kind": kind}),
                (f"{kind}-tiny", {"x": x_of([1e-30, -1e-30, 1e-7, -1e-7] + [0.0, 0.0, -30.0, 30.0], (1, 2, 4)),
                                  "kind": kind}),
            ]
        return edges

    def bad_inputs(self):
        good = np.zeros((1, 4, 3), np.float32)
        return [
            ("x-wrong-rank", {"x": good[0], "kind": "tanh"}, ValueError, r"x must be 3-D"),
            ("x-odd-channels", {"x": np.zeros((1, 3, 3), np.float32), "kind": "tanh"}, ValueError,
             r"x must have an even channel count"),
            ("x-empty", {"x": np.zeros((1, 4, 0), np.float32), "kind": "glu"}, ValueError,
             r"x must have no empty dimension"),
            ("x-int", {"x": good.astype(np.int32), "kind": "tanh"}, TypeError, r"x must have dtype"),
            ("x-float16", {"x": good.astype(np.float16), "kind": "tanh"}, TypeError, r"x must have dtype"),
            ("x-nan", {"x": np.full((1, 4, 3), np.nan, np.float32), "kind": "glu"}, ValueError,
             r"x must be finite"),
            ("x-beyond-limit", {"x": np.full((1, 2, 1), -3e38, np.float32), "kind": "glu"}, ValueError,
             r"x must have \|values\| <= 1.27e\+30 in float32"),
            ("x-list", {"x": good.tolist(), "kind": "tanh"}, TypeError, r"x must be a numpy.ndarray"),
            ("kind-unknown", {"x": good, "kind": "relu"}, ValueError, r"kind must be one of tanh, glu; got 'relu'"),
            ("kind-not-str", {"x": good, "kind": 1}, TypeError, r"kind must be a str"),
        ]


SPEC = register_spec(GatedUnitSpec())
