"""gated_unit in pure Python: the definition, one element at a time."""

import math

from impls.activations import logistic
from impls.registry import register


@register("gated_unit", backend="python")
def gated_unit(x, kind):
    half = len(x[0]) // 2
    activation = math.tanh if kind == "tanh" else (lambda a: a)
    return [
        [[activation(a) * logistic(b) for a, b in zip(sample[ch], sample[ch + half])] for ch in range(half)]
        for sample in x
    ]
