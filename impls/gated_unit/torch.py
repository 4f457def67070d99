"""gated_unit in stock PyTorch: the baseline."""

import torch
import torch.nn.functional as F

from impls.registry import register


@register("gated_unit", backend="torch", device=("cpu", "cuda"))
def gated_unit(x, kind):
    if kind == "glu":
        return F.glu(x, dim=1)
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)
