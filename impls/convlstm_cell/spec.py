"""convlstm_cell: one step of a convolutional LSTM (Shi et al., 2015, without
peephole connections): the LSTM cell with its matrix products replaced by one
'same' convolution over the concatenated input and hidden state."""

from __future__ import annotations

import numpy as np

from impls import checks
from impls.registry import Case, OpSpec, register_spec

# Nominal FLOPs per hidden value of the gate pass, as in lstm_cell: three
# sigmoids (3 each), two tanh (1 each), f*c + i*g (3), o*tanh(c') (1).
GATE_FLOPS = 15.0
DTYPES = ("float32", "float64")


def random_cell(batch, in_channels, hidden_channels, height, width, kernel_size, dtype="float32", seed=0) -> dict:
    """Seeded inputs of one ConvLSTM step; weight and bias as torch.nn.Conv2d
    initialises them, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = (Cin + Ch) * k * k."""
    rng = np.random.default_rng(seed)
    channels = in_channels + hidden_channels
    bound = 1.0 / np.sqrt(channels * kernel_size * kernel_size)
    arrays = {
        "x": rng.standard_normal((batch, in_channels, height, width)),
        "h": rng.uniform(-1.0, 1.0, (batch, hidden_channels, height, width)),  # an earlier h' lies in (-1, 1)
        "c": rng.standard_normal((batch, hidden_channels, height, width)),
        "weight": rng.uniform(-bound, bound, (4 * hidden_channels, channels, kernel_size, kernel_size)),
        "bias": rng.uniform(-bound, bound, 4 * hidden_channels),
    }
    return {k: v.astype(dtype) for k, v in arrays.items()}


class ConvLstmCellSpec(OpSpec):
    """convlstm_cell(x, h, c, weight, bias) -> (h', c')

    x (B, Cin, H, W), h and c (B, Ch, H, W), weight (4Ch, Cin + Ch, k, k) with
    k odd, bias (4Ch,); all one dtype, float32 or float64, finite, every size
    >= 1.  The output channels of weight and bias are the gates in the order
    i, f, g, o (as in lstm_cell):

        gates = conv2d(cat(x, h, dim=1), weight, bias, stride 1, padding k // 2)
        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four Ch-channel blocks
        c' = f * c + i * g
        h' = o * tanh(c')

    Returns (h', c'), each (B, Ch, H, W) in the inputs' dtype.  The zero
    padding makes a kernel larger than the image valid (it sees zeros);
    an even k has no centre, so it is rejected.
    Reference: the same composite in float64 (torch F.conv2d and gates).

    Tolerances: the defaults (float32 rtol 1e-4, atol 1e-5; float64 rtol
    1e-10, atol 1e-12).  Each gate sums K = (Cin + Ch) k^2 + 1 products (865
    in the large case), added in different orders by each implementation; the
    rounding error grows like eps * sqrt(K) * sqrt(sum of squared terms), ~8e-7
    with Conv2d's U(-1/sqrt(K), 1/sqrt(K)) weights.  Measured in float32: max
    abs error 9e-7 for every implementation, a tenth of atol.
    """

    name = "convlstm_cell"
    headline = ("b4-32to64-64x64",)
    inputs = ("x", "h", "c", "weight", "bias")
    dtypes = DTYPES
    cases = tuple(
        Case(name, dict(zip(("batch", "in_channels", "hidden_channels", "height", "width", "kernel_size"), shape)),
             size=float(shape[0] * shape[3] * shape[4] * 4 * shape[2] * (shape[1] + shape[2]) * shape[5] ** 2),
             small=name == "small")
        for name, shape in (
            ("small", (1, 2, 3, 6, 6, 3)),
            ("b4-32to64-64x64", (4, 32, 64, 64, 64, 3)),
        )
    )

    def validate(self, x, h, c, weight, bias):
        arrays = {}
        for name, value, ndim in (("x", x, 4), ("h", h, 4), ("c", c, 4), ("weight", weight, 4), ("bias", bias, 1)):
            arrays[name] = checks.float_array(name, value, ndim=ndim, dtypes=DTYPES)
        checks.same_dtype(**arrays)
        x, h, c, weight, bias = arrays.values()
        if 0 in x.shape:
            raise ValueError(f"x must have no empty dimension (B, Cin, H, W >= 1); got shape {x.shape}")
        batch, in_channels, height, width = x.shape
        if h.shape[0] != batch or h.shape[2:] != (height, width):
            raise ValueError(f"h must have shape (B, Ch, H, W) = ({batch}, Ch, {height}, {width}) to match x; "
                             f"got {h.shape}")
        hidden = h.shape[1]
        if hidden == 0:
            raise ValueError(f"h must have Ch >= 1 hidden channels; got shape {h.shape}")
        if c.shape != h.shape:
            raise ValueError(f"c must have the shape of h, {h.shape}; got {c.shape}")
        if weight.shape[0] != 4 * hidden:
            raise ValueError(f"weight must have 4*Ch = {4 * hidden} output channels (gates i, f, g, o); "
                             f"got shape {weight.shape}")
        if weight.shape[1] != in_channels + hidden:
            raise ValueError(f"weight must have Cin + Ch = {in_channels} + {hidden} = {in_channels + hidden} input "
                             f"channels (x and h concatenated); got shape {weight.shape}")
        if weight.shape[2] != weight.shape[3]:
            raise ValueError(f"weight must have a square k x k kernel; got shape {weight.shape}")
        if weight.shape[2] % 2 == 0:
            raise ValueError(f"weight must have an odd kernel size k (padding k // 2 keeps H x W); "
                             f"got k = {weight.shape[2]}")
        if bias.shape != (4 * hidden,):
            raise ValueError(f"bias must have shape ({4 * hidden},), one entry per gate channel; got {bias.shape}")
        return arrays

    def reference(self, x, h, c, weight, bias):
        import torch
        import torch.nn.functional as F

        x, h, c, weight, bias = (torch.from_numpy(np.array(a, dtype=np.float64)) for a in (x, h, c, weight, bias))
        gates = F.conv2d(torch.cat([x, h], dim=1), weight, bias, padding=weight.shape[-1] // 2)
        i, f, g, o = gates.chunk(4, dim=1)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_next = torch.sigmoid(o) * torch.tanh(c_next)
        return h_next.numpy(), c_next.numpy()

    def make_inputs(self, case, dtype="float32", seed=0):
        p = case.params
        return random_cell(p["batch"], p["in_channels"], p["hidden_channels"], p["height"], p["width"],
                           p["kernel_size"], dtype, seed)

    def flops(self, x, h, c, weight, bias):
        batch, _, height, width = x.shape
        pixels = batch * height * width
        gate_rows, reduction = weight.shape[0], weight[0].size  # 4Ch, (Cin + Ch) k^2
        return 2.0 * pixels * gate_rows * reduction + pixels * gate_rows + GATE_FLOPS * c.size

    def bytes_moved(self, x, h, c, weight, bias):
        return x.itemsize * (x.size + h.size + c.size + weight.size + bias.size + 2 * c.size)  # and write h', c'

    def edge_cases(self, dtype):
        def cell(batch, in_channels, hidden, height, width, k):
            return random_cell(batch, in_channels, hidden, height, width, k, dtype, seed=1)

        def saturated():
            # |pre-activations| of 80 * (Cin + Ch) and more, of both signs per
            # pixel: every gate sits at a limit, c' = +-80 + (0 or +-1).
            inputs = cell(1, 2, 2, 3, 3, 3)
            inputs["x"] = np.where(np.indices((1, 2, 3, 3)).sum(0) % 2, 80.0, -80.0).astype(dtype)
            inputs["h"] = np.ones_like(inputs["h"])
            inputs["c"] = np.full_like(inputs["c"], 80.0) * np.array([1, -1], dtype)[None, :, None, None]
            inputs["weight"] = np.sign(inputs["weight"]).astype(dtype)
            return inputs

        return [
            ("batch-one-channel-one", cell(1, 1, 1, 4, 5, 3)),
            ("one-pixel-kernel-3", cell(2, 2, 3, 1, 1, 3)),
            ("kernel-1", cell(2, 3, 2, 4, 4, 1)),
            ("kernel-5-larger-than-image", cell(1, 2, 2, 3, 4, 5)),
            ("non-square-image", cell(3, 2, 3, 2, 7, 3)),
            ("zeros", {k: np.zeros_like(v) for k, v in cell(1, 2, 3, 4, 4, 3).items()}),
            ("saturated", saturated()),
        ]

    def bad_inputs(self):
        batch, in_channels, hidden, size, k = 1, 2, 3, 4, 3
        f32 = np.float32
        good = {
            "x": np.zeros((batch, in_channels, size, size), f32),
            "h": np.zeros((batch, hidden, size, size), f32),
            "c": np.zeros((batch, hidden, size, size), f32),
            "weight": np.zeros((4 * hidden, in_channels + hidden, k, k), f32),
            "bias": np.zeros(4 * hidden, f32),
        }

        def case(**changes):
            return {**good, **changes}

        return [
            ("x-wrong-rank", case(x=good["x"][0]), ValueError, r"x must be 4-D"),
            ("weight-wrong-rank", case(weight=good["weight"][..., 0]), ValueError, r"weight must be 4-D"),
            ("h-batch-mismatch", case(h=np.zeros((2, hidden, size, size), f32)), ValueError,
             r"h must have shape \(B, Ch, H, W\)"),
            ("h-spatial-mismatch", case(h=np.zeros((batch, hidden, size, size + 1), f32)), ValueError,
             r"h must have shape \(B, Ch, H, W\)"),
            ("c-shape-mismatch", case(c=np.zeros((batch, hidden + 1, size, size), f32)), ValueError,
             r"c must have the shape of h"),
            ("weight-not-4Ch", case(weight=np.zeros((3 * hidden, in_channels + hidden, k, k), f32)), ValueError,
             r"weight must have 4\*Ch = 12 output channels"),
            ("weight-input-channels", case(weight=np.zeros((4 * hidden, hidden, k, k), f32)), ValueError,
             r"weight must have Cin \+ Ch = 2 \+ 3 = 5 input channels"),
            ("weight-even-kernel", case(weight=np.zeros((4 * hidden, in_channels + hidden, 2, 2), f32)), ValueError,
             r"weight must have an odd kernel size"),
            ("weight-non-square", case(weight=np.zeros((4 * hidden, in_channels + hidden, 3, 1), f32)), ValueError,
             r"weight must have a square"),
            ("bias-wrong-length", case(bias=np.zeros(hidden, f32)), ValueError, r"bias must have shape \(12,\)"),
            ("x-empty", case(x=np.zeros((batch, 0, size, size), f32)), ValueError, r"x must have no empty dimension"),
            ("x-int", case(x=good["x"].astype(np.int32)), TypeError, r"x must have dtype"),
            ("mixed-dtypes", case(weight=good["weight"].astype(np.float64)), TypeError,
             r"weight must have the dtype of x"),
            ("c-nan", case(c=np.full((batch, hidden, size, size), np.nan, f32)), ValueError, r"c must be finite"),
            ("bias-list", case(bias=[0.0] * 12), TypeError, r"bias must be a numpy.ndarray"),
        ]


SPEC = register_spec(ConvLstmCellSpec())
