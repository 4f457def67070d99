"""conv2d in the project's extension (csrc/ops/conv2d*).

CPU: three algorithms; "auto" picks by shape (csrc/ops/conv2d.cpp). Winograd
F(2 x 2, 3 x 3) for 3 x 3 stride-1 convolutions with at least 32 channels
per group, or undilated with 4 to 16: each 2 x 2 block of outputs from its
4 x 4 inputs with 16 multiplies per channel pair instead of 36, any dilation
through the input's 2d-polyphase planes; with few channels per group
(ResNeXt's 8) the products and the output transform of a vector of tiles
stay in registers. Otherwise a direct convolution on a polyphase copy of
the input: each tile (image, group, band of output rows) is im2col'd with
the stride's sh x sw taps as the kernel -- a zero-padded copy for stride 1 --
in which every kernel tap is a shifted window, so the kh x kw taps are summed
in registers without the kh * kw-fold column buffer. algorithm="im2col" runs
the im2col + GEMM tiles instead. CUDA: im2col kernel, then one batched GEMM
(cuBLAS) per chunk of images.
"""

from impls.backends.ext import ext_module
from impls.registry import register

_C = ext_module()


def _cpu_work(x, weight, bias, stride, padding, dilation, groups, algorithm="auto"):
    """The FLOPs of the CPU algorithm the extension runs (Winograd's, where it does)."""
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)
    return _C.conv2d_cpu_flops(list(x.shape), list(weight.shape), pair(stride), pair(padding), pair(dilation),
                               groups, bias is not None, algorithm)


@register("conv2d", backend="ext", device="cuda")
@register("conv2d", backend="ext", device="cpu", work=_cpu_work)
def conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm="auto"):
    return _C.conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm)
