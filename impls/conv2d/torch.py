"""conv2d in stock PyTorch (oneDNN on CPU, cuDNN on CUDA): the baseline."""

import torch.nn.functional as F

from impls.registry import register


@register("conv2d", backend="torch", device=("cpu", "cuda"))
def conv2d(x, weight, bias, stride, padding, dilation, groups):
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
