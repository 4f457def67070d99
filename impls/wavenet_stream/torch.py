"""wavenet_stream in stock PyTorch eager mode, one time step at a time.

``torch``: per-layer queues (ring buffers of the last d inputs, the
fast-wavenet idea); per step and layer one addmm on [x_l[t-d], x_l[t]] with
the two taps stacked, then tanh, sigmoid and addcmul.  Every op is a
dispatch (a kernel launch on CUDA), so at batch 1 this measures framework
overhead more than arithmetic.
``torch_naive``: per step, one matmul of the stacked taps over each layer's
part of the receptive field.
"""

import torch
import torch.nn.functional as F

from impls.registry import register
from impls.wavenet_stream.spec import receptive_extents


@register("wavenet_stream", backend="torch", device=("cpu", "cuda"))
def wavenet_stream(x, weights, biases, dilations):
    n, channels, steps = x.shape
    # stacked[l]: (2C inputs, 2C outputs); inputs 0..C-1 take tap 0 (x_l[t-d]), C..2C-1 tap 1 (x_l[t]).
    stacked = torch.cat([weights[..., 0], weights[..., 1]], dim=2).transpose(1, 2).contiguous()
    queues = [x.new_zeros((d, n, channels)) for d in dilations]
    stacked_input = x.new_empty((n, 2 * channels))
    y = torch.empty_like(x)
    with torch.inference_mode():
        for t in range(steps):
            state = x[:, :, t]
            for w, b, d, queue in zip(stacked, biases, dilations, queues):
                slot = t % d  # holds x_l[t - d]; x_l[t] replaces it
                stacked_input[:, :channels] = queue[slot]
                stacked_input[:, channels:] = state
                queue[slot] = state
                h = torch.addmm(b, stacked_input, w)
                state = torch.addcmul(state, torch.tanh(h[:, :channels]), torch.sigmoid(h[:, channels:]))
            y[:, :, t] = state
    return y


@register("wavenet_stream", backend="torch", device=("cpu", "cuda"), name="torch_naive")
def wavenet_stream_naive(x, weights, biases, dilations):
    n, channels, steps = x.shape
    extents = receptive_extents(dilations)
    # stacked[l] (2C outputs, 2C inputs): inputs 0..C-1 take tap 0, C..2C-1 tap 1.
    # One matmul per layer and step over the stacked taps: F.conv1d on these
    # ever-changing widths paid ~0.1 ms of oneDNN setup per call.
    stacked = torch.cat([weights[..., 0], weights[..., 1]], dim=2)
    y = torch.empty_like(x)
    with torch.inference_mode():
        for t in range(steps):
            start = max(0, t - extents[0])
            window = x[:, :, start : t + 1]  # layer 0's input over its part of the cone
            for w, b, d, extent in zip(stacked, biases, dilations, extents[1:]):
                next_start = max(0, t - extent)
                columns = t - next_start + 1
                # Outputs at next_start .. t read the window there and d steps
                # earlier; only a window that starts at t = 0 lacks those older
                # steps, and they are the zero padding.
                padding = min(start - next_start + d, columns)
                present = window[:, :, next_start - start :]
                past = F.pad(window[:, :, : columns - padding], (padding, 0))
                h = torch.matmul(w, torch.cat([past, present], dim=1))
                h += b[:, None]
                window = torch.addcmul(present, torch.tanh(h[:, :channels]), torch.sigmoid(h[:, channels:]))
                start = next_start
            y[:, :, t] = window[:, :, -1]
    return y
