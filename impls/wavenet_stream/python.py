"""wavenet_stream in pure Python, one time step at a time.

``python``: each layer keeps a FIFO (a deque of length d) of its last d
inputs, so step t finds x_l[t - d] at the head of layer l's queue.
``python_naive``: each step recomputes its whole receptive field from the raw
input.  Small cases only.
"""

import math
from collections import deque

from impls.registry import register
from impls.wavenet_stream.spec import receptive_extents


def _layer_step(w, b, past, present):
    """One output column of a layer: present + tanh(h_a) * sigmoid(h_b)."""
    channels = len(present)
    h = [
        b[o] + sum(w[o][i][0] * past[i] + w[o][i][1] * present[i] for i in range(channels)) for o in range(2 * channels)
    ]
    return [present[c] + math.tanh(h[c]) * (0.5 + 0.5 * math.tanh(0.5 * h[channels + c])) for c in range(channels)]


def _transpose(columns, channels):
    """columns[t][c] -> rows[c][t] (a list of T columns back to the (C, T) layout)."""
    return [[column[c] for column in columns] for c in range(channels)]


@register("wavenet_stream", backend="python")
def wavenet_stream(x, weights, biases, dilations):
    y = []
    for sample in x:
        channels, steps = len(sample), len(sample[0])
        zero = [0.0] * channels
        # queues[l][0] is x_l[t - d]: the queue starts full of the zero padding.
        queues = [deque([zero] * d, maxlen=d) for d in dilations]
        columns = []
        for t in range(steps):
            state = [row[t] for row in sample]
            for w, b, queue in zip(weights, biases, queues):
                past = queue[0]
                queue.append(state)  # maxlen drops the head: the queue holds x_l[t-d+1 .. t]
                state = _layer_step(w, b, past, state)
            columns.append(state)
        y.append(_transpose(columns, channels))
    return y


@register("wavenet_stream", backend="python", name="python_naive")
def wavenet_stream_naive(x, weights, biases, dilations):
    extents = receptive_extents(dilations)
    y = []
    for sample in x:
        channels, steps = len(sample), len(sample[0])
        columns = []
        for t in range(steps):
            # Layer l's input over its part of the cone, steps start .. t.
            start = max(0, t - extents[0])
            window = [[row[s] for row in sample] for s in range(start, t + 1)]
            for layer, (w, b, d) in enumerate(zip(weights, biases, dilations)):
                next_start = max(0, t - extents[layer + 1])
                zero = [0.0] * channels
                window = [
                    _layer_step(w, b, window[s - d - start] if s - d >= start else zero, window[s - start])
                    for s in range(next_start, t + 1)
                ]
                start = next_start
            columns.append(window[-1])
        y.append(_transpose(columns, channels))
    return y
