"""conv2d in the project's extension (csrc/ops/conv2d*).

CPU: a direct convolution on a polyphase copy of the input. Each tile (image,
group, band of output rows) is im2col'd with the stride's sh x sw taps as the
kernel -- a zero-padded copy for stride 1 -- in which every kernel tap is a
shifted window, so the kh x kw taps are summed in registers without the
kh * kw-fold column buffer. algorithm="im2col" runs the im2col + GEMM tiles
instead (an L2-sized column buffer per thread, ATen's GEMM); the direct kernel
beat it on every benchmark case. CUDA: im2col kernel, then one batched GEMM
(cuBLAS) per chunk of images.
"""

from impls.backends import ext_module
from impls.registry import register

_C = ext_module()


@register("conv2d", backend="ext", device=("cpu", "cuda"))
def conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm="auto"):
    return _C.conv2d(x, weight, bias, stride, padding, dilation, groups, algorithm)
