"""conv2d in the project's extension (csrc/ops/conv2d*).

CPU: three algorithms; "auto" picks by shape (csrc/ops/conv2d.cpp). Winograd
F(2 x 2, 3 x 3) for 3 x 3 stride-1 convolutions with at least 32 channels
per group: each 2 x 2 block of outputs from its 4 x 4 inputs with 16
multiplies per channel pair instead of 36, any dilation through the input's
2d-polyphase planes. Otherwise a direct convolution on a polyphase copy of
the input: each tile (image, group, band of output rows) is im2col'd with
the stride's sh x sw taps as the kernel -- a zero-padded copy for stride 1 --
in which every kernel tap is a shifted window, so the kh x kw taps are summed
in registers without the kh * kw-fold column buffer. algorithm="im2col" runs
the im2col + GEMM tiles instead. CUDA: im2col kernel, then one batched GEMM
(cuBLAS) per chunk of images.
"""

import math

from impls.backends import ext_module
from impls.conv2d.spec import output_size
from impls.registry import register

_C = ext_module()


def winograd_flops(n, cin_per_group, cout, height, width, padding, dilation, bias) -> float:
    """The FLOPs of the extension's Winograd kernel on a 3 x 3 stride-1
    convolution: per image and phase, ceil(Ho / 2dh) x ceil(Wo / 2dw) tiles of
    2 x 2 outputs, each 16 multiply-adds per (input, output) channel pair;
    plus the bias. Its transforms' additions are not counted, as the op's
    cost model counts none outside the dot products."""
    (ph, pw), (dh, dw) = padding, dilation
    out_h, out_w = output_size(height, 3, 1, ph, dh), output_size(width, 3, 1, pw, dw)
    tiles = dh * dw * math.ceil(out_h / (2 * dh)) * math.ceil(out_w / (2 * dw))
    return float(n * cout * (2 * 16 * cin_per_group * tiles + (out_h * out_w if bias else 0)))


def _cpu_work(x, weight, bias, stride, padding, dilation, groups, algorithm="auto"):
    """Where "auto" runs Winograd, the FLOPs it performs (None: the op's)."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    chosen = _C.conv2d_cpu_algorithm(list(x.shape), list(weight.shape), list(stride), list(padding),
                                     list(dilation), groups, algorithm)
    if chosen != "winograd":
        return None
    return winograd_flops(x.shape[0], weight.shape[1], weight.shape[0], x.shape[2], x.shape[3], padding, dilation,
                          bias is not None)


@register("conv2d", backend="ext", device="cuda")
@register("conv2d", backend="ext", device="cpu", work=_cpu_work)
def conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm="auto"):
    return _C.conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm)
