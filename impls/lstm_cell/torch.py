"""lstm_cell in stock PyTorch: the baseline (ATen's lstm_cell: two GEMMs and
the gate math, as torch.nn.LSTMCell runs it)."""

import torch

from impls.registry import register


@register("lstm_cell", backend="torch", device=("cpu", "cuda"))
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    h_next, c_next = torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    return h_next, c_next
