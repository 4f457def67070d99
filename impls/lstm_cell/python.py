"""lstm_cell in pure Python: the definition, one hidden unit at a time."""

import math

from impls.activations import logistic
from impls.registry import register


def _dot(weights, values):
    return sum(w * v for w, v in zip(weights, values))


@register("lstm_cell", backend="python")
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    hidden = len(h[0])
    h_next, c_next = [], []
    for x_row, h_row, c_row in zip(x, h, c):
        gates = [_dot(w_ih[r], x_row) + b_ih[r] + _dot(w_hh[r], h_row) + b_hh[r] for r in range(4 * hidden)]
        i, f, g, o = (gates[k * hidden : (k + 1) * hidden] for k in range(4))
        cell = [logistic(f[j]) * c_row[j] + logistic(i[j]) * math.tanh(g[j]) for j in range(hidden)]
        h_next.append([logistic(o[j]) * math.tanh(cell[j]) for j in range(hidden)])
        c_next.append(cell)
    return h_next, c_next
