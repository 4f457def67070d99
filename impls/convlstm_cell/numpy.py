"""convlstm_cell in NumPy: per sample, im2col of the zero-padded cat(x, h),
one GEMM with the (4Ch, (Cin + Ch) k^2) weight matrix, then whole-array gate
math.  The loop is over samples, not elements: it keeps the column buffer to
one sample's (Cin + Ch) k^2 x H W, reused, instead of B times that."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from impls.activations import sigmoid
from impls.registry import register


@register("convlstm_cell", backend="numpy")
def convlstm_cell(x, h, c, weight, bias):
    batch, in_channels, height, width = x.shape
    hidden, channels, k = h.shape[1], weight.shape[1], weight.shape[-1]
    pad = k // 2
    weight_matrix = weight.reshape(4 * hidden, channels * k * k)  # rows: gates; columns: (channel, dy, dx)
    padded = np.zeros((channels, height + 2 * pad, width + 2 * pad), x.dtype)  # the border stays zero
    columns = np.empty((channels, k, k, height, width), x.dtype)
    h_next, c_next = np.empty_like(h), np.empty_like(c)
    for sample in range(batch):
        padded[:in_channels, pad : pad + height, pad : pad + width] = x[sample]
        padded[in_channels:, pad : pad + height, pad : pad + width] = h[sample]
        # windows[ch, y, x, dy, dx] = padded[ch, y + dy, x + dx]; copied as (ch, dy, dx, y, x)
        windows = sliding_window_view(padded, (k, k), axis=(1, 2))
        np.copyto(columns, windows.transpose(0, 3, 4, 1, 2))
        gates = weight_matrix @ columns.reshape(channels * k * k, height * width)
        gates += bias[:, None]
        # One sigmoid over all four blocks (g's is unused) saves three calls.
        activated = sigmoid(gates)
        i, f, o = activated[:hidden], activated[hidden : 2 * hidden], activated[3 * hidden :]
        cell = f * c[sample].reshape(hidden, -1)
        cell += i * np.tanh(gates[2 * hidden : 3 * hidden])
        c_next[sample] = cell.reshape(hidden, height, width)
        np.tanh(cell, out=cell)
        cell *= o
        h_next[sample] = cell.reshape(hidden, height, width)
    return h_next, c_next
