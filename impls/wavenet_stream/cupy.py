"""wavenet_stream in CuPy: the fast-wavenet queues in one persistent kernel
(cupy_kernels.cu) -- one block per sample loops over the time steps and the
layers, each layer's queue a ring in global memory, the step's state in
shared memory, with a barrier between the phases of each layer.  One launch
per call, so the per-step cost is the layers' arithmetic and their weights'
trips through L2, not launch overhead."""

from pathlib import Path

import numpy as np

from impls import cupy_support
from impls.cupy_support import DYNAMIC_SHARED_BYTES, CudaSource, i64
from impls.registry import register

KERNELS = CudaSource(Path(__file__).with_name("cupy_kernels.cu"), ("wavenet_stream_kernel<{T}>",))
MAX_THREADS = 1024


@register("wavenet_stream", backend="cupy", device="cuda")
def wavenet_stream(x, weights, biases, dilations):
    cp = cupy_support.cupy()
    n, channels, steps = x.shape
    layers = len(dilations)
    if steps == 0 or layers == 0:
        return x.copy()  # no steps: an empty y; no layers: y = x
    shared_bytes = 4 * channels * x.itemsize  # state, the queue's output and h (2C)
    if shared_bytes > DYNAMIC_SHARED_BYTES:
        raise ValueError(
            f"x has C = {channels} channels; the cupy wavenet_stream keeps 4C values of a step in shared memory "
            f"({DYNAMIC_SHARED_BYTES} bytes) and handles at most C = {DYNAMIC_SHARED_BYTES // (4 * x.itemsize)} "
            f"in {x.dtype}"
        )
    # (layers, 2C, C, 2) -> (layers, 2 taps, C inputs, 2C outputs) -> (layers, 2C, 2C):
    # rows 0..C-1 tap 0 (x_l[t-d]), rows C..2C-1 tap 1 (x_l[t]); one small copy per call.
    packed = cp.ascontiguousarray(weights.transpose(0, 3, 2, 1)).reshape(layers, 2 * channels, 2 * channels)
    capacity = [1 << (d - 1).bit_length() for d in dilations]  # the power of two >= d
    offsets = np.concatenate([[0], np.cumsum(capacity)])
    table = cp.asarray(np.array([*dilations, *(c - 1 for c in capacity), *offsets[:-1]], dtype=np.int64))
    slots = int(offsets[-1])
    ring = cp.zeros((n, slots, channels), dtype=x.dtype)
    y = cp.empty((n, channels, steps), dtype=x.dtype)
    # One thread per output of h (2C), in whole warps.
    threads = min(MAX_THREADS, (2 * channels + 31) // 32 * 32)
    KERNELS.function("wavenet_stream_kernel<{T}>", x.dtype)(
        (n, 1, 1),
        (threads, 1, 1),
        (x, packed, biases, table, *i64(layers, channels, steps, slots), ring, y),
        shared_mem=shared_bytes,
    )
    return y
