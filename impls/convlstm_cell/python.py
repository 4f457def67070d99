"""convlstm_cell in pure Python: the direct convolution, one gate value at a
time, on nested lists."""

import math

from impls.activations import logistic
from impls.registry import register


@register("convlstm_cell", backend="python")
def convlstm_cell(x, h, c, weight, bias):
    hidden = len(h[0])
    height, width = len(x[0][0]), len(x[0][0][0])
    k = len(weight[0][0])
    pad = k // 2

    def gate(planes, out_channel, y, col):
        """conv2d(cat(x, h), weight, bias, padding k // 2) at one output value."""
        total = bias[out_channel]
        for kernel, plane in zip(weight[out_channel], planes):
            for dy in range(k):
                yy = y + dy - pad
                if not 0 <= yy < height:
                    continue
                for dx in range(k):
                    xx = col + dx - pad
                    if 0 <= xx < width:
                        total += kernel[dy][dx] * plane[yy][xx]
        return total

    h_next, c_next = [], []
    for x_sample, h_sample, c_sample in zip(x, h, c):
        planes = x_sample + h_sample  # channel concatenation of lists
        h_planes, c_planes = [], []
        for j in range(hidden):
            h_rows, c_rows = [], []
            for y in range(height):
                h_row, c_row = [], []
                for col in range(width):
                    i, f, g, o = (gate(planes, q * hidden + j, y, col) for q in range(4))
                    cell = logistic(f) * c_sample[j][y][col] + logistic(i) * math.tanh(g)
                    c_row.append(cell)
                    h_row.append(logistic(o) * math.tanh(cell))
                h_rows.append(h_row)
                c_rows.append(c_row)
            h_planes.append(h_rows)
            c_planes.append(c_rows)
        h_next.append(h_planes)
        c_next.append(c_planes)
    return h_next, c_next
