"""wavenet_stream: a WaveNet residual stack run one time step at a time."""

from __future__ import annotations

import numbers

import numpy as np

from impls import checks
from impls.registry import Case, OpSpec, register_spec

WAVENET_DILATIONS = tuple(2**i for i in range(10)) * 2  # two stacks of 1, 2, 4, ..., 512


def receptive_extents(dilations) -> list[int]:
    """extents[l] = sum(dilations[l:]): the output at step t depends on layer
    l's input at steps t - extents[l] .. t only (extents[layers] = 0).  The
    naive variants recompute exactly this cone for every step."""
    extents = [0]
    for d in reversed(dilations):
        extents.append(extents[-1] + d)
    return extents[::-1]


def _sigmoid(v):
    return 0.5 + 0.5 * np.tanh(0.5 * v)  # never overflows, unlike 1 / (1 + exp(-v))


def _case(name, n, channels, dilations, steps, small=False):
    params = {"n": n, "channels": channels, "dilations": tuple(dilations), "steps": steps}
    size = float(n * steps * len(dilations) * 4 * channels * channels)  # multiply-adds
    return Case(name, params, size=size, small=small, family="small" if small else "b1-20layers")


class WavenetStreamSpec(OpSpec):
    """wavenet_stream(x, weights, biases, dilations) -> y

    x (N, C, T), weights (layers, 2C, C, 2), biases (layers, 2C), all float32
    or all float64 and finite; dilations a sequence of ``layers`` ints >= 1
    (e.g. 1, 2, 4, ..., 512 twice).  A dilation of T or more makes its layer
    read only padding through the older tap; validate passes such a
    dilation on as max(T, 1), which gives the same answer, so no queue
    is longer than the sequence.  N >= 1 and C >= 1; T = 0 and
    layers = 0 are valid (an empty y; y = x).  Layer l is a gated residual
    unit on a causal k = 2 convolution:

        h       = causal_conv1d(x_l, weights[l], biases[l], dilations[l])   # (N, 2C, T)
        x_{l+1} = x_l + tanh(h[:, :C]) * sigmoid(h[:, C:])

    so h[..., t] = W[:, :, 0] @ x_l[..., t - d] + W[:, :, 1] @ x_l[..., t] + b,
    with x_l = 0 before t = 0.  Returns y = x_layers (N, C, T).

    Implementations produce y one time step at a time, as real-time inference
    does: ``<backend>`` keeps one FIFO per layer holding the last d inputs
    (the fast-wavenet queues; O(layers) work per step), ``<backend>_naive``
    recomputes each step's whole receptive field (O(receptive field) per
    step).  Reference: the whole sequence at once in float64, layer by layer.
    """

    name = "wavenet_stream"
    headline = ("b1-c64-20layers",)
    inputs = ("x", "weights", "biases", "dilations")
    dtypes = ("float32", "float64")
    cases = (
        _case("small", 2, 4, (1, 2, 4) * 2, 40, small=True),
        # T = 256: long enough to time the queue variants (5 000 layer-steps,
        # milliseconds per call), short enough for the naive recompute.  Its
        # work at step t is ~layers * min(t, 2047) columns (2047 is the
        # receptive field), so a call costs ~T^2 columns: at T = 512 the
        # naive variants took 2-10 s per call on the shared 2-core machine.
        _case("b1-c32-20layers", 1, 32, WAVENET_DILATIONS, 256),
        _case("b1-c64-20layers", 1, 64, WAVENET_DILATIONS, 256),
    )
    # float32 error grows with depth.  Each layer's h sums 2C products of O(1)
    # terms and carries ~sqrt(2C) * 6e-8 ~ 1e-6 of rounding; the gate passes
    # it on (|derivative| <= 1) to the residual stream, where all 20 layers'
    # errors add up and later layers carry earlier ones forward: ~1e-5 at
    # worst, 3e-6 seen on the 20-layer cases (|y| < 10).  5e-5 absolute plus
    # 2e-5 relative leaves ~20x over what is seen (room for another summation
    # order, e.g. a GPU BLAS), yet fails an off-by-one dilation or a swapped
    # tap, which move y by ~1e-1.  float64 errors stay near 1e-14.
    tolerances = {"float32": (2e-5, 5e-5), "float64": (1e-10, 1e-12)}

    def validate(self, x, weights, biases, dilations):
        x = checks.float_array("x", x, ndim=3, dtypes=("float32", "float64"))
        if x.shape[0] < 1 or x.shape[1] < 1:
            # N = 0 is refused rather than answered: the pure-Python backend's
            # nested lists cannot carry the (0, C, T) shape of the answer.
            raise ValueError(f"x must have at least one sample and one channel; got shape {x.shape}")
        channels = x.shape[1]
        weights = checks.float_array("weights", weights, ndim=4, dtypes=("float32", "float64"))
        checks.same_dtype(x=x, weights=weights)
        layers = weights.shape[0]
        if weights.shape[1:] != (2 * channels, channels, 2):
            raise ValueError(
                f"weights must have shape (layers, 2C, C, 2) = (layers, {2 * channels}, {channels}, 2) "
                f"for x with C = {channels}; got {weights.shape}"
            )
        biases = checks.float_array("biases", biases, ndim=2, dtypes=("float32", "float64"))
        checks.same_dtype(x=x, biases=biases)
        checks.shape_is("biases", biases, (layers, 2 * channels))
        dilations = tuple(min(d, max(x.shape[2], 1)) for d in self._dilations(dilations, layers))
        return {"x": x, "weights": weights, "biases": biases, "dilations": dilations}

    @staticmethod
    def _dilations(dilations, layers) -> tuple[int, ...]:
        if isinstance(dilations, np.ndarray):
            dilations = dilations.tolist() if dilations.ndim == 1 and dilations.dtype.kind in "iu" else dilations
        if not isinstance(dilations, (tuple, list)):
            raise TypeError(f"dilations must be a sequence of ints (one per layer); got {type(dilations).__name__}")
        for d in dilations:
            if isinstance(d, bool) or not isinstance(d, numbers.Integral):
                raise TypeError(f"dilations must be a sequence of ints (one per layer); got {dilations!r}")
            if d < 1:
                raise ValueError(f"dilations must all be >= 1; got {tuple(dilations)}")
        if len(dilations) != layers:
            raise ValueError(
                f"dilations must have one entry per layer: weights has {layers} layers, dilations has {len(dilations)}"
            )
        return tuple(int(d) for d in dilations)

    def reference(self, x, weights, biases, dilations):
        state = x.astype(np.float64)
        channels, steps = x.shape[1], x.shape[2]
        for w, b, d in zip(weights.astype(np.float64), biases.astype(np.float64), dilations):
            h = np.matmul(w[:, :, 1], state) + b[:, None]
            if d < steps:
                h[:, :, d:] += np.matmul(w[:, :, 0], state[:, :, : steps - d])
            state = state + np.tanh(h[:, :channels]) * _sigmoid(h[:, channels:])
        return state

    def make_inputs(self, case, dtype="float32", seed=0):
        p = case.params
        rng = np.random.default_rng(seed)
        n, channels, steps, dilations = p["n"], p["channels"], p["steps"], p["dilations"]
        layers = len(dilations)
        # Each h entry sums 2C products; weights of std 1 / sqrt(2C) keep it at
        # the scale of x.  The residual stream then grows only by the bounded
        # gate outputs (|tanh * sigmoid| < 1): |y| stays below ~10 after 20
        # layers, and no gate saturates for good.
        scale = 1.0 / np.sqrt(2 * channels)
        return {
            "x": rng.standard_normal((n, channels, steps)).astype(dtype),
            "weights": (scale * rng.standard_normal((layers, 2 * channels, channels, 2))).astype(dtype),
            "biases": (0.1 * rng.standard_normal((layers, 2 * channels))).astype(dtype),
            "dilations": tuple(dilations),
        }

    def flops(self, x, weights, biases, dilations):
        # Per sample, step and layer: the two taps' (2C x C) products (8 C^2),
        # the bias (2C), tanh, sigmoid, product and residual add (4C, a
        # transcendental counted as one).  The naive variants do more work;
        # this is the work the op needs.
        n, channels, steps = x.shape
        return float(n * steps * len(dilations) * (8 * channels * channels + 6 * channels))

    def bytes_moved(self, x, weights, biases, dilations):
        # x in, y out, the parameters once (a streaming kernel keeps them in
        # cache); the queues are state, not traffic a kernel must make.
        return float(x.dtype.itemsize * (2 * x.size + weights.size + biases.size))

    def throughput(self, x, weights, biases, dilations):
        return (float(x.shape[2]), "steps")

    def edge_cases(self, dtype):
        rng = np.random.default_rng(2)

        def case(n, channels, steps, dilations):
            layers = len(dilations)
            return {
                "x": rng.standard_normal((n, channels, steps)).astype(dtype),
                "weights": (rng.standard_normal((layers, 2 * channels, channels, 2)) / np.sqrt(2 * channels)).astype(
                    dtype
                ),
                "biases": (0.1 * rng.standard_normal((layers, 2 * channels))).astype(dtype),
                "dilations": tuple(dilations),
            }

        return [
            ("one-step", case(2, 3, 1, (1, 2, 4))),
            ("no-steps", case(1, 3, 0, (1, 2))),
            ("no-layers", case(2, 3, 6, ())),
            ("one-layer", case(1, 2, 9, (3,))),
            ("one-channel", case(1, 1, 12, (1, 2, 4, 8))),
            ("dilation-beyond-length", case(1, 2, 5, (1, 8, 16, 2))),  # those layers see only the padding
            ("dilation-equals-length", case(1, 2, 4, (4, 1))),
            ("odd-dilations", case(2, 3, 30, (3, 5, 7, 1, 6))),  # not powers of two: the queue is not a power of two
            ("repeated-dilation", case(1, 4, 16, (2, 2, 2))),
            ("batch-of-three", case(3, 5, 20, (1, 2, 4, 8))),
        ]

    def bad_inputs(self):
        c, layers = 2, 3
        x = np.ones((1, c, 6), np.float32)
        weights = np.ones((layers, 2 * c, c, 2), np.float32)
        biases = np.ones((layers, 2 * c), np.float32)

        def case(**kw):
            return {"x": x, "weights": weights, "biases": biases, "dilations": (1, 2, 4), **kw}

        return [
            ("x-wrong-rank", case(x=x[0]), ValueError, r"x must be 3-D"),
            ("x-empty-batch", case(x=np.ones((0, c, 6), np.float32)), ValueError, r"x must have at least one sample"),
            (
                "x-no-channels",
                case(x=np.ones((1, 0, 6), np.float32)),
                ValueError,
                r"x must have at least one sample and one channel",
            ),
            ("weights-wrong-rank", case(weights=weights[..., 0]), ValueError, r"weights must be 4-D"),
            (
                "weights-channel-mismatch",
                case(weights=np.ones((layers, 2 * c, c + 1, 2), np.float32)),
                ValueError,
                r"weights must have shape \(layers, 2C, C, 2\)",
            ),
            (
                "weights-not-gated",
                case(weights=np.ones((layers, c, c, 2), np.float32)),
                ValueError,
                r"weights must have shape \(layers, 2C, C, 2\)",
            ),
            (
                "weights-kernel-three",
                case(weights=np.ones((layers, 2 * c, c, 3), np.float32)),
                ValueError,
                r"weights must have shape \(layers, 2C, C, 2\)",
            ),
            (
                "biases-wrong-length",
                case(biases=np.ones((layers, c), np.float32)),
                ValueError,
                r"biases must have shape \(3, 4\)",
            ),
            (
                "biases-wrong-layers",
                case(biases=np.ones((layers + 1, 2 * c), np.float32)),
                ValueError,
                r"biases must have shape \(3, 4\)",
            ),
            ("dilations-too-few", case(dilations=(1, 2)), ValueError, r"dilations must have one entry per layer"),
            (
                "dilations-too-many",
                case(dilations=(1, 2, 4, 8)),
                ValueError,
                r"dilations must have one entry per layer",
            ),
            ("dilations-zero", case(dilations=(1, 0, 4)), ValueError, r"dilations must all be >= 1"),
            ("dilations-negative", case(dilations=(1, -2, 4)), ValueError, r"dilations must all be >= 1"),
            ("dilations-float", case(dilations=(1, 2.0, 4)), TypeError, r"dilations must be a sequence of ints"),
            ("dilations-bool", case(dilations=(1, True, 4)), TypeError, r"dilations must be a sequence of ints"),
            ("dilations-scalar", case(dilations=2), TypeError, r"dilations must be a sequence of ints"),
            ("x-int", case(x=x.astype(np.int64)), TypeError, r"x must have dtype"),
            (
                "weights-float64",
                case(weights=weights.astype(np.float64)),
                TypeError,
                r"weights must have the dtype of x",
            ),
            ("biases-float16", case(biases=biases.astype(np.float16)), TypeError, r"biases must have dtype"),
            ("x-nan", case(x=np.full((1, c, 6), np.nan, np.float32)), ValueError, r"x must be finite"),
            (
                "biases-inf",
                case(biases=np.full((layers, 2 * c), np.inf, np.float32)),
                ValueError,
                r"biases must be finite",
            ),
        ]


SPEC = register_spec(WavenetStreamSpec())
