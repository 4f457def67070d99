"""wavenet_stream in NumPy, one time step at a time.

``numpy``: each layer keeps a ring buffer of its last d inputs (the FIFO of
the fast-wavenet idea): per step and layer one (N, 2C) x (2C, 2C) product of
[x_l[t-d], x_l[t]] with the two taps stacked, then the gate.  Vectorised over
the batch and channels; the loops are over steps and layers only.
``numpy_naive``: each step recomputes its receptive field, layer by layer,
one GEMM per layer over that layer's part of the cone.
"""

import numpy as np

from impls.registry import register
from impls.wavenet_stream.spec import receptive_extents


def _gated_residual(state, h_tanh, h_sigmoid):
    """state + tanh(h_tanh) * sigmoid(h_sigmoid); the sigmoid through tanh never overflows."""
    gate = np.tanh(0.5 * h_sigmoid)
    gate *= 0.5
    gate += 0.5
    gate *= np.tanh(h_tanh)
    gate += state
    return gate


@register("wavenet_stream", backend="numpy")
def wavenet_stream(x, weights, biases, dilations):
    n, channels, steps = x.shape
    # stacked[l] maps [x_l[t-d], x_l[t]] (2C inputs) to h (2C outputs): rows
    # 0..C-1 take tap 0 (the past), rows C..2C-1 tap 1 (the present).
    stacked = [np.concatenate([w[:, :, 0].T, w[:, :, 1].T]) for w in weights]
    queues = [np.zeros((d, n, channels), dtype=x.dtype) for d in dilations]
    stacked_input = np.empty((n, 2 * channels), dtype=x.dtype)
    y = np.empty_like(x)
    for t in range(steps):
        state = x[:, :, t]
        for w, b, d, queue in zip(stacked, biases, dilations, queues):
            slot = t % d  # holds x_l[t - d]; x_l[t] replaces it
            stacked_input[:, :channels] = queue[slot]
            stacked_input[:, channels:] = state
            queue[slot] = state
            h = stacked_input @ w
            h += b
            state = _gated_residual(state, h[:, :channels], h[:, channels:])
        y[:, :, t] = state
    return y


@register("wavenet_stream", backend="numpy", name="numpy_naive")
def wavenet_stream_naive(x, weights, biases, dilations):
    n, channels, steps = x.shape
    extents = receptive_extents(dilations)
    # stacked[l] (2C outputs, 2C inputs): inputs 0..C-1 take tap 0, C..2C-1 tap 1.
    stacked = [np.concatenate([w[:, :, 0], w[:, :, 1]], axis=1) for w in weights]
    y = np.empty_like(x)
    for t in range(steps):
        start = max(0, t - extents[0])
        window = x[:, :, start : t + 1]  # layer 0's input over its part of the cone
        for layer, (w, b, d) in enumerate(zip(stacked, biases, dilations)):
            next_start = max(0, t - extents[layer + 1])
            columns = t - next_start + 1
            # Outputs at next_start .. t read the window there and d steps
            # earlier; only a window that starts at t = 0 lacks those older
            # steps, and they are the zero padding.
            padding = min(start - next_start + d, columns)
            stacked_input = np.empty((n, 2 * channels, columns), dtype=x.dtype)
            stacked_input[:, :channels, :padding] = 0
            stacked_input[:, :channels, padding:] = window[:, :, : columns - padding]
            stacked_input[:, channels:] = window[:, :, next_start - start :]
            h = np.matmul(w, stacked_input)  # one GEMM per layer and step
            h += b[:, None]
            window = _gated_residual(stacked_input[:, channels:], h[:, :channels], h[:, channels:])
            start = next_start
        y[:, :, t] = window[:, :, -1]
    return y
