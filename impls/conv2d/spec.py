"""conv2d: 2-D convolution (cross-correlation, as in PyTorch), the im2col + GEMM op."""

from __future__ import annotations

import math

import numpy as np

from impls import checks
from impls.registry import Case, OpSpec, register_spec

DTYPES = ("float32", "float64")


# Padded input sizes (H + 2 ph, W + 2 pw) must stay below this: the native
# kernels add a stride to them in int64.
MAX_PADDED_SIZE = 2**62


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one spatial axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# The im2col column buffer's budget: ~4 MiB stays in the 32 MiB L3 alongside
# the GEMM's packed panels, so the GEMM reads columns from cache, not DRAM.  A
# case whose single image needs more (ResNet 64 x 3 x 3 at 56 x 56: ~7 MiB)
# takes one image per step.
COL_BUFFER_BYTES = 4 << 20


def im2col_geometry(x, weight, stride, padding, dilation, im2col_step=None):
    """(Ho, Wo, rows of the column buffer, images per im2col step) for the
    im2col implementations; the step defaults to what fits COL_BUFFER_BYTES."""
    n, cin, h, w = x.shape
    _, _, kh, kw = weight.shape
    ho = output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = output_size(w, kw, stride[1], padding[1], dilation[1])
    rows = cin * kh * kw
    if im2col_step is None:
        im2col_step = max(1, COL_BUFFER_BYTES // (rows * ho * wo * x.itemsize))
    return ho, wo, rows, min(im2col_step, n)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _case(name, n, cin, cout, hw, kernel, stride=1, padding=0, dilation=1, groups=1, bias=False, small=False,
          family=""):
    params = {"n": n, "cin": cin, "cout": cout, "hw": hw, "kernel": kernel, "stride": stride,
              "padding": padding, "dilation": dilation, "groups": groups, "bias": bias}
    (h, w), (kh, kw) = _pair(hw), _pair(kernel)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ho, wo = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    # size: the multiply-add FLOPs, monotone in the work each case asks for.
    return Case(name, params, size=2.0 * n * cout * ho * wo * (cin // groups) * kh * kw, small=small, family=family)


class Conv2dSpec(OpSpec):
    """conv2d(x, weight, bias, stride, padding, dilation, groups) -> y

    x (N, Cin, H, W); weight (Cout, Cin / groups, kh, kw); bias (Cout,) or
    None; all arrays float32 or all float64, finite.  stride, padding and
    dilation are each an int or an (h, w) pair of ints: stride >= 1,
    padding >= 0 (zeros on both sides), dilation >= 1.  groups >= 1 divides
    both Cin and Cout: output channel co sees only the input channels of its
    group g = co // (Cout / groups).

    Returns y (N, Cout, Ho, Wo) in the input dtype, with
    Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1 (Wo likewise) and

        y[n, co, oh, ow] = bias[co] + sum over ci < Cin / groups, i < kh, j < kw of
            weight[co, ci, i, j] * xpad[n, g * Cin / groups + ci, oh * sh + i * dh, ow * sw + j * dw]

    where xpad is x zero-padded by (ph, pw): PyTorch's cross-correlation.
    A dilated kernel extent dh (kh - 1) + 1 larger than the padded height
    H + 2 ph (or the same for widths) is rejected; equal gives Ho = 1.
    The padded sizes must stay below 2**62 and y's bytes below 2**63 (the
    kernels' int64 arithmetic): a ValueError naming padding otherwise.
    A stride past the padded input is valid (one output row or column,
    whatever the stride), as is any dilation of a one-tap axis (it reads
    nothing else): validate passes on min(stride, H + 2 ph - extent + 1),
    and dilation 1 where the kernel has one tap, which give the same answer,
    so no implementation multiplies or allocates by a 2**62 stride.
    N = 0 (and any zero channel or spatial size) is rejected as well: as
    nested lists an empty batch loses its (Cin, H, W), so the pure-Python
    backend could not give the (0, Cout, Ho, Wo) answer the others would.
    Reference: ``torch.nn.functional.conv2d`` in float64.
    """

    name = "conv2d"
    headline = ("resnext-grouped", "dilated", "resnet")
    inputs = ("x", "weight", "bias", "stride", "padding", "dilation", "groups")
    dtypes = DTYPES
    cases = (
        _case("small-strided-grouped", 2, 4, 6, 9, 3, stride=2, padding=1, dilation=2, groups=2, bias=True,
              small=True, family="small"),
        _case("small-asymmetric", 1, 3, 4, (7, 10), (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1),
              bias=True, small=True, family="small"),
        # Layers of ResNet-50 (stem, stages 1 and 3), ResNeXt-101 32x8d (stage 1,
        # 8 channels per group), MobileNet v1 (depthwise) and a DeepLab-style
        # dilated 3x3.  BN follows most of them in the real nets; the dilated and
        # depthwise cases carry a bias anyway, to time that path too.
        _case("resnet", 8, 64, 64, 56, 3, padding=1, family="dense"),
        _case("deep", 8, 256, 256, 14, 3, padding=1, family="dense"),
        _case("stem", 1, 3, 64, 224, 7, stride=2, padding=3, family="dense"),
        _case("dilated", 8, 64, 64, 56, 3, padding=2, dilation=2, bias=True, family="dense"),
        _case("resnext-grouped", 8, 256, 256, 56, 3, padding=1, groups=32, family="grouped"),
        _case("depthwise", 8, 128, 128, 56, 3, padding=1, groups=128, bias=True, family="grouped"),
    )

    def validate(self, x, weight, bias, stride, padding, dilation, groups):
        x = checks.float_array("x", x, ndim=4, dtypes=DTYPES)
        weight = checks.float_array("weight", weight, ndim=4, dtypes=DTYPES)
        checks.same_dtype(x=x, weight=weight)
        if bias is not None:
            bias = checks.float_array("bias", bias, ndim=1, dtypes=DTYPES)
            checks.same_dtype(x=x, bias=bias)
        stride = checks.int_pair("stride", stride, 1)
        padding = checks.int_pair("padding", padding, 0)
        dilation = checks.int_pair("dilation", dilation, 1)
        groups = checks.positive_int("groups", groups, 1)

        n, cin, h, w = x.shape
        cout, cin_per_group, kh, kw = weight.shape
        if min(x.shape) == 0:
            raise ValueError(f"x must have N, Cin, H, W >= 1; got shape {x.shape}")
        if min(weight.shape) == 0:
            raise ValueError(f"weight must have Cout, Cin / groups, kh, kw >= 1; got shape {weight.shape}")
        if cin % groups:
            raise ValueError(f"groups must divide the input channels: x has Cin = {cin}, groups = {groups}")
        if cout % groups:
            raise ValueError(f"groups must divide the output channels: weight has Cout = {cout}, groups = {groups}")
        if cin_per_group * groups != cin:
            raise ValueError(
                f"weight must have Cin / groups = {cin // groups} input channels (x has Cin = {cin}, "
                f"groups = {groups}); got weight of shape {weight.shape}"
            )
        if bias is not None:
            checks.shape_is("bias", bias, (cout,))
        extent = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        if max(padded) >= MAX_PADDED_SIZE:
            raise ValueError(f"padding must keep the padded input x below 2^62; got {padded[0]} x {padded[1]} "
                             f"(padding {padding})")
        if extent[0] > padded[0] or extent[1] > padded[1]:
            raise ValueError(
                f"weight's kernel (dilated extent {extent[0]} x {extent[1]}) is larger than the padded input x "
                f"({padded[0]} x {padded[1]}); increase padding or shrink the kernel or its dilation"
            )
        kernel = (kh, kw)
        stride = tuple(min(stride[a], padded[a] - extent[a] + 1) for a in (0, 1))
        dilation = tuple(dilation[a] if kernel[a] > 1 else 1 for a in (0, 1))
        shape = self._output_shape(x, weight, stride, padding, dilation)
        if math.prod(shape) * x.itemsize >= 2**63:
            raise ValueError(f"padding and stride ask for an output of shape {shape}, more than 2^63 bytes")
        return {"x": x, "weight": weight, "bias": bias, "stride": stride, "padding": padding,
                "dilation": dilation, "groups": groups}

    def reference(self, x, weight, bias, stride, padding, dilation, groups):
        import torch
        import torch.nn.functional as F

        as64 = lambda a: None if a is None else torch.from_numpy(a.astype(np.float64))
        with torch.no_grad():
            return F.conv2d(as64(x), as64(weight), as64(bias), stride, padding, dilation, groups).numpy()

    def make_inputs(self, case, dtype="float32", seed=0):
        p = case.params
        rng = np.random.default_rng(seed)
        (h, w), (kh, kw) = _pair(p["hw"]), _pair(p["kernel"])
        cin_per_group = p["cin"] // p["groups"]
        # PyTorch's default init bound, 1/sqrt(fan_in): with x ~ N(0, 1) every
        # output away from the padded border has variance 1/3 (plus the bias's),
        # whatever the case's fan_in.
        bound = 1.0 / math.sqrt(cin_per_group * kh * kw)
        x = rng.standard_normal((p["n"], p["cin"], h, w), dtype=np.float64)
        weight = rng.uniform(-bound, bound, (p["cout"], cin_per_group, kh, kw))
        bias = rng.uniform(-bound, bound, p["cout"]).astype(dtype) if p["bias"] else None
        return {"x": x.astype(dtype), "weight": weight.astype(dtype), "bias": bias, "stride": p["stride"],
                "padding": p["padding"], "dilation": p["dilation"], "groups": p["groups"]}

    def _output_shape(self, x, weight, stride, padding, dilation):
        ho, wo = (output_size(x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a], dilation[a]) for a in (0, 1))
        return x.shape[0], weight.shape[0], ho, wo

    def flops(self, x, weight, bias, stride, padding, dilation, groups):
        n, cout, ho, wo = self._output_shape(x, weight, stride, padding, dilation)
        macs_per_output = weight.shape[1] * weight.shape[2] * weight.shape[3]
        return float(n * cout * ho * wo * (2 * macs_per_output + (bias is not None)))

    def bytes_moved(self, x, weight, bias, stride, padding, dilation, groups):
        n, cout, ho, wo = self._output_shape(x, weight, stride, padding, dilation)
        read = x.size + weight.size + (0 if bias is None else bias.size)
        return float(x.dtype.itemsize * (read + n * cout * ho * wo))

    def tolerance(self, inputs):
        """The base (rtol, atol), with atol at least 2 eps sqrt(K), K = Cin / groups
        * kh * kw the length of each output's dot product.  With make_inputs'
        O(1/sqrt(K)) terms, rounding errors add up like a random walk: the
        worst of 2e5 float32 dot products summed naively in order measured
        0.8-1.1 eps sqrt(K) for K = 9 to 2304 (BLAS on the cases: 0.25-0.6).
        So the base atol (1e-5 for float32) holds up to K ~ 1700 and grows
        beyond, instead of failing a correct kernel on a deep layer."""
        rtol, atol = super().tolerance(inputs)
        eps = float(np.finfo(inputs["x"].dtype).eps)
        return rtol, max(atol, 2 * eps * math.sqrt(inputs["weight"][0].size))

    def edge_cases(self, dtype):
        rng = np.random.default_rng(1234)
        a = lambda *shape: rng.uniform(-1, 1, shape).astype(dtype)
        case = lambda x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1: {
            "x": x, "weight": weight, "bias": bias, "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups}
        return [
            ("one-by-one-kernel", case(a(2, 3, 4, 5), a(4, 3, 1, 1), a(4))),
            ("one-pixel", case(a(1, 1, 1, 1), a(1, 1, 1, 1), a(1))),
            ("kernel-equals-input", case(a(2, 3, 5, 4), a(2, 3, 5, 4), a(2))),
            ("kernel-equals-padded-input", case(a(1, 2, 3, 3), a(3, 2, 5, 5), padding=1)),
            ("dilated-kernel-equals-padded-input", case(a(1, 2, 5, 7), a(2, 2, 3, 3), padding=(0, 1), dilation=(2, 4))),
            ("padding-wider-than-kernel", case(a(1, 2, 3, 3), a(2, 2, 2, 2), a(2), padding=3)),
            ("no-bias", case(a(2, 3, 6, 6), a(5, 3, 3, 3), padding=1)),
            ("stride-larger-than-kernel", case(a(1, 2, 11, 9), a(3, 2, 2, 2), a(3), stride=4)),
            ("asymmetric-pairs", case(a(2, 3, 9, 13), a(4, 3, 3, 2), a(4), stride=(2, 3), padding=(0, 2),
                                      dilation=(1, 3))),
            ("depthwise", case(a(2, 4, 5, 5), a(4, 1, 3, 3), a(4), padding=1, groups=4)),
            ("depthwise-multiplier", case(a(1, 3, 4, 6), a(6, 1, 2, 3), a(6), groups=3)),
            ("groups-equal-cout-fewer-than-cin", case(a(1, 6, 4, 4), a(2, 3, 3, 3), groups=2)),
        ]

    def bad_inputs(self):
        x = np.zeros((2, 4, 8, 8), np.float32)
        weight = np.zeros((6, 4, 3, 3), np.float32)
        bias = np.zeros(6, np.float32)
        case = lambda **kw: {"x": x, "weight": weight, "bias": bias, "stride": 1, "padding": 1, "dilation": 1,
                             "groups": 1, **kw}
        nan_x = x.copy()
        nan_x[1, 2, 3, 4] = np.nan
        return [
            ("x-wrong-rank", case(x=x[0]), ValueError, r"x must be 4-D"),
            ("weight-wrong-rank", case(weight=weight[:, :, :, 0]), ValueError, r"weight must be 4-D"),
            ("bias-wrong-rank", case(bias=bias[:, None]), ValueError, r"bias must be 1-D"),
            ("x-list", case(x=x.tolist()), TypeError, r"x must be a numpy.ndarray"),
            ("x-empty-batch", case(x=x[:0]), ValueError, r"x must have N, Cin, H, W >= 1"),
            ("weight-no-output-channels", case(weight=weight[:0], bias=bias[:0]), ValueError,
             r"weight must have Cout, Cin / groups, kh, kw >= 1"),
            ("cin-not-divisible-by-groups", case(weight=np.zeros((6, 1, 3, 3), np.float32), groups=3), ValueError,
             r"groups must divide the input channels"),
            ("cout-not-divisible-by-groups", case(weight=np.zeros((6, 1, 3, 3), np.float32), groups=4), ValueError,
             r"groups must divide the output channels"),
            ("weight-cin-mismatch", case(weight=np.zeros((6, 3, 3, 3), np.float32)), ValueError,
             r"weight must have Cin / groups = 4 input channels"),
            ("weight-cin-mismatch-grouped", case(weight=weight, groups=2), ValueError,
             r"weight must have Cin / groups = 2 input channels"),
            ("bias-wrong-length", case(bias=bias[:5]), ValueError, r"bias must have shape \(6\)"),
            ("x-int", case(x=x.astype(np.int32)), TypeError, r"x must have dtype"),
            ("weight-float16", case(weight=weight.astype(np.float16)), TypeError, r"weight must have dtype"),
            ("weight-mixed-dtype", case(weight=weight.astype(np.float64)), TypeError,
             r"weight must have the dtype of x"),
            ("bias-mixed-dtype", case(bias=bias.astype(np.float64)), TypeError, r"bias must have the dtype of x"),
            ("x-nan", case(x=nan_x), ValueError, r"x must be finite"),
            ("weight-inf", case(weight=np.full_like(weight, np.inf)), ValueError, r"weight must be finite"),
            ("kernel-larger-than-padded-input", case(weight=np.zeros((6, 4, 11, 3), np.float32)), ValueError,
             r"weight's kernel \(dilated extent 11 x 3\) is larger than the padded input x \(10 x 10\)"),
            ("dilated-kernel-larger-than-padded-input", case(dilation=(1, 5)), ValueError,
             r"weight's kernel \(dilated extent 3 x 11\) is larger than the padded input x"),
            ("negative-padding", case(padding=-1), ValueError, r"padding must be >= 0"),
            ("zero-stride", case(stride=(1, 0)), ValueError, r"stride must be >= 1"),
            ("zero-dilation", case(dilation=0), ValueError, r"dilation must be >= 1"),
            ("stride-triple", case(stride=(1, 1, 1)), TypeError, r"stride must be an int or a pair of ints"),
            ("padding-float", case(padding=1.0), TypeError, r"padding must be an int or a pair of ints"),
            ("groups-zero", case(groups=0), ValueError, r"groups must be >= 1"),
            ("groups-float", case(groups=1.0), TypeError, r"groups must be an int"),
        ]


SPEC = register_spec(Conv2dSpec())
