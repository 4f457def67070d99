"""convlstm_cell in stock PyTorch: the composite a ConvLSTM module runs
(torch.cat, F.conv2d through oneDNN/cuDNN, then the gates): the baseline."""

import torch
import torch.nn.functional as F

from impls.registry import register


@register("convlstm_cell", backend="torch", device=("cpu", "cuda"))
def convlstm_cell(x, h, c, weight, bias):
    gates = F.conv2d(torch.cat([x, h], dim=1), weight, bias, padding=weight.shape[-1] // 2)
    i, f, g, o = gates.chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    return h_next, c_next
