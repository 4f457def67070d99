"""gated_unit in NumPy: whole-array ufuncs on the two channel halves."""

import numpy as np

from impls.activations import sigmoid
from impls.registry import register


@register("gated_unit", backend="numpy")
def gated_unit(x, kind):
    half = x.shape[1] // 2
    a, b = x[:, :half], x[:, half:]
    gate = sigmoid(b)
    if kind == "tanh":
        gate *= np.tanh(a)
    else:
        gate *= a
    return gate
