"""convlstm_cell in the project's extension: one convolution of cat(x, h)
with the bias -- on the CPU the extension's own conv2d (Winograd F(2 x 2,
3 x 3) for 3 x 3 kernels with enough channels), on the GPU cuDNN -- then one
fused gate pass that writes h' and c' (the gate update shared with
lstm_cell, csrc/ops/lstm_cell.h)."""

from impls.backends.ext import ext_module
from impls.convlstm_cell.spec import SPEC
from impls.registry import register

_C = ext_module()


def _cpu_work(x, h, c, weight, bias):
    """The op's FLOPs with the convolution's (bias included) replaced by what
    the extension's conv2d performs on cat(x, h): Winograd's, where it runs it."""
    batch, height, width, k = x.shape[0], x.shape[2], x.shape[3], weight.shape[-1]
    xh_shape = [batch, x.shape[1] + h.shape[1], height, width]
    conv = 2.0 * batch * height * width * weight.shape[0] * weight[0].size + batch * height * width * weight.shape[0]
    performed = _C.conv2d_cpu_flops(xh_shape, list(weight.shape), [1, 1], [k // 2] * 2, [1, 1], 1, True)
    return SPEC.flops(x, h, c, weight, bias) - conv + performed


@register("convlstm_cell", backend="ext", device="cuda")
@register("convlstm_cell", backend="ext", device="cpu", work=_cpu_work)
def convlstm_cell(x, h, c, weight, bias):
    return _C.convlstm_cell(x, h, c, weight, bias)
