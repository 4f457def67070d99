"""causal_conv1d in stock PyTorch: F.pad on the left, then F.conv1d -- the
baseline (the Conv1d-with-padding + chomp of TCN code computes the same,
with one more copy).  On CUDA, cuDNN is kept from rounding float32 operands
to TF32 (its default on Ampere and later), which the float32 contract rules out."""

import torch
import torch.nn.functional as F

from impls.registry import register


@register("causal_conv1d", backend="torch", device=("cpu", "cuda"))
def causal_conv1d(x, weight, bias, dilation):
    n, _, length = x.shape
    cout, _, k = weight.shape
    if length == 0:  # conv1d rejects an empty padded input; the answer is empty
        return x.new_empty((n, cout, length))
    padded = F.pad(x, ((k - 1) * dilation, 0))
    if not x.is_cuda:
        return F.conv1d(padded, weight, bias, dilation=dilation)
    allow_tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        return F.conv1d(padded, weight, bias, dilation=dilation)
    finally:
        torch.backends.cudnn.allow_tf32 = allow_tf32
