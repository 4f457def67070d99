"""lstm_cell: one step of a PyTorch LSTM layer."""

from __future__ import annotations

import numpy as np

from impls import checks
from impls.registry import Case, OpSpec, register_spec

# Nominal FLOPs per hidden unit of the gate pass, counting each transcendental
# function and each +, *, / as one: three sigmoids (3 each), two tanh (1 each),
# c' = f*c + i*g (3) and h' = o*tanh(c') (1).
GATE_FLOPS = 15.0
DTYPES = ("float32", "float64")


def random_cell(batch, input_size, hidden, dtype="float32", seed=0) -> dict:
    """Seeded inputs of one cell step, initialised as torch.nn.LSTMCell does."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)  # LSTMCell initialises every parameter U(-1/sqrt(H), 1/sqrt(H))
    arrays = {
        "x": rng.standard_normal((batch, input_size)),
        "h": rng.uniform(-1.0, 1.0, (batch, hidden)),  # an earlier h' = o * tanh(c') lies in (-1, 1)
        "c": rng.standard_normal((batch, hidden)),
        "w_ih": rng.uniform(-bound, bound, (4 * hidden, input_size)),
        "w_hh": rng.uniform(-bound, bound, (4 * hidden, hidden)),
        "b_ih": rng.uniform(-bound, bound, 4 * hidden),
        "b_hh": rng.uniform(-bound, bound, 4 * hidden),
    }
    return {k: v.astype(dtype) for k, v in arrays.items()}


def _shape_error(name, expected, got, why):
    return ValueError(f"{name} must have shape {expected} ({why}); got {got}")


class LstmCellSpec(OpSpec):
    """lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh) -> (h', c')

    x (B, I), h and c (B, H), w_ih (4H, I), w_hh (4H, H), b_ih and b_hh (4H,);
    all one dtype, float32 or float64, finite, every size >= 1.  The rows of
    the weights and biases are the gates in PyTorch's order i, f, g, o:

        gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh     (B, 4H)
        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four H-wide blocks
        c' = f * c + i * g
        h' = o * tanh(c')

    Returns (h', c'), each (B, H) in the inputs' dtype.  Saturated gates
    (|pre-activation| of 80 and more) give their limits, never NaN.
    Reference: torch.lstm_cell in float64.

    Tolerances: the defaults (float32 rtol 1e-4, atol 1e-5; float64 rtol
    1e-10, atol 1e-12).  A gate's pre-activation sums K = I + H + 2 products,
    which implementations add in different orders; the rounding error of such
    a sum grows like eps * sqrt(K) * sqrt(sum of squared terms), ~2e-6 for
    PyTorch's U(-1/sqrt(H), 1/sqrt(H)) weights at the largest case (K = 2050),
    and the gates pass it on with gain <= 1.  Measured at B256 in float32:
    max abs error 9e-7 for every implementation, a tenth of atol.
    """

    name = "lstm_cell"
    headline = ("B1", "B64", "B256")
    inputs = ("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh")
    dtypes = DTYPES
    cases = tuple(
        Case(name, {"batch": b, "input_size": i, "hidden_size": hidden}, size=float(b * 4 * hidden * (i + hidden)),
             small=name == "small")
        for name, b, i, hidden in (
            ("small", 3, 5, 4),
            ("B1", 1, 256, 256),
            ("B64", 64, 256, 512),
            ("B256", 256, 1024, 1024),
        )
    )

    def validate(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        arrays = {}
        for name, value, ndim in (("x", x, 2), ("h", h, 2), ("c", c, 2), ("w_ih", w_ih, 2), ("w_hh", w_hh, 2),
                                  ("b_ih", b_ih, 1), ("b_hh", b_hh, 1)):
            arrays[name] = checks.float_array(name, value, ndim=ndim, dtypes=DTYPES)
        checks.same_dtype(**arrays)
        x, h, c, w_ih, w_hh, b_ih, b_hh = arrays.values()
        if 0 in x.shape:
            raise ValueError(f"x must have batch B >= 1 and input size I >= 1; got shape {x.shape}")
        batch, input_size = x.shape
        if h.shape[0] != batch:
            raise ValueError(f"h must have the batch of x (B = {batch}); got shape {h.shape}")
        hidden = h.shape[1]
        if hidden == 0:
            raise ValueError(f"h must have hidden size H >= 1; got shape {h.shape}")
        if c.shape != h.shape:
            raise _shape_error("c", (batch, hidden), c.shape, "the shape of h, (B, H)")
        if w_ih.shape != (4 * hidden, input_size):
            raise _shape_error("w_ih", (4 * hidden, input_size), w_ih.shape,
                               f"4*H = {4 * hidden} gate rows i, f, g, o by I = {input_size}")
        if w_hh.shape != (4 * hidden, hidden):
            raise _shape_error("w_hh", (4 * hidden, hidden), w_hh.shape,
                               f"4*H = {4 * hidden} gate rows i, f, g, o by H = {hidden}")
        for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
            if bias.shape != (4 * hidden,):
                raise _shape_error(name, (4 * hidden,), bias.shape, f"one entry per gate row, 4*H = {4 * hidden}")
        return arrays

    def reference(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        import torch

        t = {k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in
             {"x": x, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}.items()}
        h_next, c_next = torch.lstm_cell(t["x"], (t["h"], t["c"]), t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"])
        return h_next.numpy(), c_next.numpy()

    def make_inputs(self, case, dtype="float32", seed=0):
        p = case.params
        return random_cell(p["batch"], p["input_size"], p["hidden_size"], dtype, seed)

    def flops(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        batch, input_size = x.shape
        hidden = h.shape[1]
        # Two GEMMs (one on [W_ih | W_hh]), two bias adds, the gate pass.
        return 2.0 * batch * 4 * hidden * (input_size + hidden) + 2.0 * batch * 4 * hidden + GATE_FLOPS * batch * hidden

    def bytes_moved(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        read = x.size + h.size + c.size + w_ih.size + w_hh.size + b_ih.size + b_hh.size
        return x.itemsize * (read + 2 * h.size)  # and write h', c'

    def edge_cases(self, dtype):
        def cell(batch, input_size, hidden):
            return random_cell(batch, input_size, hidden, dtype, seed=1)

        def zeroed(inputs, names):
            return {k: np.zeros_like(v) if k in names else v for k, v in inputs.items()}

        def saturated(sign):
            # Pre-activations of +-80 * (I + H) and more: every gate saturates,
            # c' = f * c + i * g is +-(80 + 1) and tanh(c') is exactly +-1.
            inputs = cell(2, 3, 2)
            inputs["x"] = np.full_like(inputs["x"], 80.0 * sign)
            inputs["h"] = np.full_like(inputs["h"], sign)
            inputs["c"] = np.array([[80.0, -80.0], [-80.0, 80.0]], dtype) * sign
            inputs["w_ih"] = np.ones_like(inputs["w_ih"])
            inputs["w_hh"] = np.ones_like(inputs["w_hh"])
            return inputs

        def mixed_saturation():
            # Gates i, f, g, o driven to different limits in one cell: i -> 1,
            # f -> 0, g -> -1, o -> 1 (weights of the sign each gate needs).
            inputs = cell(1, 2, 3)
            inputs["x"] = np.full_like(inputs["x"], 80.0)
            signs = np.repeat(np.array([1.0, -1.0, -1.0, 1.0], dtype), 3)
            inputs["w_ih"] = np.repeat(signs[:, None], 2, axis=1).astype(dtype)
            inputs["w_hh"] = np.zeros_like(inputs["w_hh"])
            return inputs

        return [
            ("batch-one", cell(1, 7, 5)),
            ("hidden-one", cell(4, 3, 1)),
            ("input-one", cell(2, 1, 6)),
            ("all-sizes-one", cell(1, 1, 1)),
            ("zeros", zeroed(cell(2, 3, 4), self.inputs)),
            ("zero-weights", zeroed(cell(3, 4, 5), ("w_ih", "w_hh", "b_ih", "b_hh"))),
            ("saturated-positive", saturated(1.0)),
            ("saturated-negative", saturated(-1.0)),
            ("mixed-saturation", mixed_saturation()),
        ]

    def bad_inputs(self):
        batch, input_size, hidden = 2, 3, 4
        f32 = np.float32
        good = {
            "x": np.zeros((batch, input_size), f32),
            "h": np.zeros((batch, hidden), f32),
            "c": np.zeros((batch, hidden), f32),
            "w_ih": np.zeros((4 * hidden, input_size), f32),
            "w_hh": np.zeros((4 * hidden, hidden), f32),
            "b_ih": np.zeros(4 * hidden, f32),
            "b_hh": np.zeros(4 * hidden, f32),
        }

        def case(**changes):
            return {**good, **changes}

        return [
            ("x-wrong-rank", case(x=good["x"][None]), ValueError, r"x must be 2-D"),
            ("h-wrong-rank", case(h=good["h"][0]), ValueError, r"h must be 2-D"),
            ("b_ih-wrong-rank", case(b_ih=good["b_ih"][None]), ValueError, r"b_ih must be 1-D"),
            ("h-batch-mismatch", case(h=np.zeros((3, hidden), f32)), ValueError, r"h must have the batch of x"),
            ("c-shape-mismatch", case(c=np.zeros((batch, hidden + 1), f32)), ValueError, r"c must have shape"),
            ("w_ih-rows-not-4H", case(w_ih=np.zeros((3 * hidden, input_size), f32)), ValueError,
             r"w_ih must have shape \(16, 3\) \(4\*H"),
            ("w_ih-columns-not-I", case(w_ih=np.zeros((4 * hidden, input_size + 1), f32)), ValueError,
             r"w_ih must have shape"),
            ("w_hh-not-4H-by-H", case(w_hh=np.zeros((4 * hidden, hidden + 1), f32)), ValueError,
             r"w_hh must have shape \(16, 4\)"),
            ("b_hh-wrong-length", case(b_hh=np.zeros(hidden, f32)), ValueError, r"b_hh must have shape \(16,\)"),
            ("x-empty-batch", case(x=np.zeros((0, input_size), f32)), ValueError, r"x must have batch B >= 1"),
            ("h-empty-hidden", {**case(h=np.zeros((batch, 0), f32)), "c": np.zeros((batch, 0), f32)}, ValueError,
             r"h must have hidden size H >= 1"),
            ("w_hh-int", case(w_hh=good["w_hh"].astype(np.int64)), TypeError, r"w_hh must have dtype"),
            ("mixed-dtypes", case(c=good["c"].astype(np.float64)), TypeError, r"c must have the dtype of x"),
            ("x-nan", case(x=np.full((batch, input_size), np.nan, f32)), ValueError, r"x must be finite"),
            ("w_ih-inf", case(w_ih=np.full((4 * hidden, input_size), np.inf, f32)), ValueError,
             r"w_ih must be finite"),
            ("h-list", case(h=good["h"].tolist()), TypeError, r"h must be a numpy.ndarray"),
        ]


SPEC = register_spec(LstmCellSpec())
