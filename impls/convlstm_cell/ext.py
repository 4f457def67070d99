"""convlstm_cell in the project's extension: ATen's convolution (oneDNN /
cuDNN) of cat(x, h) with the bias, then one fused gate pass that writes h'
and c' (the gate update shared with lstm_cell, csrc/ops/lstm_cell.h)."""

from impls.backends import ext_module
from impls.registry import register

_C = ext_module()


@register("convlstm_cell", backend="ext", device=("cpu", "cuda"))
def convlstm_cell(x, h, c, weight, bias):
    return _C.convlstm_cell(x, h, c, weight, bias)
