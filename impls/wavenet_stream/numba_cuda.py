"""wavenet_stream in numba.cuda: the fast-wavenet queues, one thread block per
sample looping over time, the whole stream in one kernel launch.

Per step and layer l with dilation d, every thread of the block takes part:

    h[o]   = b[o] + sum_i W0[i, o] x_l[t - d][i] + W1[i, o] x_l[t][i]    (threads over the 2C outputs)
    queue_l[t] = x_l[t]                                                 (threads over the C channels)
    barrier
    x_{l+1}[c] = x_l[c] + tanh(h[c]) sigmoid(h[C + c]); stage x_{l+1}[t - d'] for layer l + 1
    barrier

x_l[t], x_l[t - d] and h live in shared memory; each layer's queue (its last
d inputs, a ring of the power of two >= d slots, so a slot is t & mask) lives
in global memory, where it stays in L2.  Channel c of every queue is written
and later read by the same thread, so the queues need no barrier of their
own; a slot read before t = d would hold no input yet, and the padding (0)
is used instead.  The weights are packed once per call as (layers, tap, C,
2C), so at each input i the threads read consecutive outputs: coalesced.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from impls import numba_cuda_common as common
from impls.registry import register

# Threads per sample's block: one per gate output (2C) up to 1024, CUDA's
# block limit (beyond it each thread loops over several outputs).
MAX_THREADS = 1024
PACK_THREADS = 256
# x_l[t], x_l[t - d] and h: 4C values of dynamic shared memory, within the
# 48 KiB a block gets without opting in (C <= 1536 in float64).
SHARED_BYTES = 48 << 10


@functools.cache
def _kernels(dtype_name):
    zero = np.dtype(dtype_name).type(0)
    sigmoid, tanh = common.activations(dtype_name)

    @cuda.jit
    def pack(weights, flat):
        """flat = packed (layers, tap, C, 2C) with packed[l, tap, i, o] = weights[l, o, i, tap],
        grid-stride, o fastest (coalesced stores)."""
        outputs, channels = weights.shape[1], weights.shape[2]
        for e in range(cuda.grid(1), flat.shape[0], cuda.gridsize(1)):
            o = e % outputs
            i = e // outputs % channels
            tap = e // (outputs * channels) % 2
            layer = e // (outputs * channels * 2)
            flat[e] = weights[layer, o, i, tap]

    @cuda.jit
    def stream(x, packed, biases, layout, queues, y):
        """One block per sample; layout[l] = (dilation, first queue slot, slot mask);
        queues (N, slots, C) scratch; x and y (N, C, T)."""
        sample = cuda.blockIdx.x
        channels, steps = x.shape[1], x.shape[2]
        layers = packed.shape[0]
        tid, threads = cuda.threadIdx.x, cuda.blockDim.x
        shared = cuda.shared.array(0, packed.dtype)
        present = shared[:channels]  # x_l[t]
        past = shared[channels : 2 * channels]  # x_l[t - d]
        h = shared[2 * channels : 4 * channels]
        for t in range(steps):
            d = layout[0, 0]
            for c in range(tid, channels, threads):
                present[c] = x[sample, c, t]
                past[c] = queues[sample, layout[0, 1] + ((t - d) & layout[0, 2]), c] if t >= d else zero
            cuda.syncthreads()
            for layer in range(layers):
                for o in range(tid, 2 * channels, threads):
                    # Two chains of FMAs, one per tap: half the dependent latency of one.
                    acc_past = biases[layer, o]
                    acc_present = zero
                    for i in range(channels):
                        acc_past += packed[layer, 0, i, o] * past[i]
                        acc_present += packed[layer, 1, i, o] * present[i]
                    h[o] = acc_past + acc_present
                slot = layout[layer, 1] + (t & layout[layer, 2])
                for c in range(tid, channels, threads):
                    queues[sample, slot, c] = present[c]
                cuda.syncthreads()
                if layer + 1 < layers:
                    d = layout[layer + 1, 0]
                    slot = layout[layer + 1, 1] + ((t - d) & layout[layer + 1, 2])
                for c in range(tid, channels, threads):
                    present[c] += tanh(h[c]) * sigmoid(h[channels + c])
                    if layer + 1 < layers:
                        past[c] = queues[sample, slot, c] if t >= d else zero
                cuda.syncthreads()
            for c in range(tid, channels, threads):
                y[sample, c, t] = present[c]

    return pack, stream


@register("wavenet_stream", backend="numba_cuda", device="cuda")
def wavenet_stream(x, weights, biases, dilations, threads=None):
    """``threads``: per sample's block; by default one per gate output (2C), up
    to MAX_THREADS.  Fewer make each thread loop over several (tests do)."""
    n, channels, steps = x.shape
    dtype = np.dtype(x.dtype)
    if steps == 0:
        return np.empty((n, channels, 0), dtype)
    if len(dilations) == 0:
        y = cuda.device_array_like(x)
        y.copy_to_device(x)
        return y
    shared_bytes = 4 * channels * dtype.itemsize
    if shared_bytes > SHARED_BYTES:
        most = SHARED_BYTES // (4 * dtype.itemsize)
        raise ValueError(f"x has C = {channels} channels; this kernel takes at most {most} in {dtype}")
    capacity = [1 << (d - 1).bit_length() for d in dilations]  # the power of two >= d
    first_slot = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    layout = np.stack([np.array(dilations), first_slot, np.array(capacity) - 1], axis=1).astype(np.int64)
    pack, stream = _kernels(dtype.name)
    layers = weights.shape[0]
    packed = cuda.device_array((layers, 2, channels, 2 * channels), dtype)
    pack[common.grid_blocks(packed.size, PACK_THREADS), PACK_THREADS](weights, packed.reshape(-1))
    queues = cuda.device_array((n, sum(capacity), channels), dtype)
    y = cuda.device_array((n, channels, steps), dtype)
    threads = threads or common.block_threads(2 * channels, MAX_THREADS)
    stream[n, threads, 0, shared_bytes](x, packed, biases, cuda.to_device(layout), queues, y)
    return y
