"""wavenet_stream in Numba, one time step at a time, the whole time loop in
one compiled call.

``numba`` (the fast-wavenet queues): every layer keeps a ring buffer of its
last d inputs.  Per step and layer: read x_l[t - d] from the ring, store
x_l[t] in its place, h = b + W_past^T x_l[t-d] + W_now^T x_l[t], then the
gate.  The rings of all layers live in one array, each with a power-of-two
capacity so a slot is ``t & mask``; a fresh ring is all zeros, which is
exactly the causal padding (a slot is first read before it is first
written).  The weights are packed once per call as (layers, 2C inputs, 2C
outputs), so the product is a sum of input-weighted weight rows with a
stride-1 inner loop over the 2C outputs, which vectorises.  With C = 64 the
20 layers' weights (1.3 MB in float32) exceed the 1 MiB L2 and stream from
L3 every step; that, not arithmetic, bounds a step (~20 us here: loop shapes
with 1, 2, 4 or 8 rows per pass, and fastmath, all measured the same).

``numba_naive``: every step recomputes its receptive field (the cone of
``receptive_extents``) layer by layer, with the same per-column kernel.
Both run the samples of a batch (independent streams) in parallel, and
nothing finer; a batch of one runs serially, outside any parallel region.
A fork-join per layer and step (10^4 per call), or even one per call at
batch 1, is cheap on idle cores but stalls for a scheduler slice whenever
another process holds one of the two cores (a 1-step call took 7-24 ms).

The gate is tanh(a) * sigmoid(b), sigmoid(b) = (1 + tanh(b / 2)) / 2.  In
float32, tanh is a rational function (below) that vectorises; libm's tanh
does not (Numba has no SVML).  In float64, np.tanh.
"""

import numba
import numpy as np

from impls.registry import register
from impls.wavenet_stream.spec import receptive_extents

# tanh(v) ~= v * P(v^2) / Q(v^2) on |v| <= TANH_CLAMP, +-1 beyond (float32
# tanh(9) rounds to 1 - 6e-8).  Degree (4, 4) in v^2, fitted to float64 tanh
# by iteratively reweighted least squares (Lawson) toward minimax: 1.8e-8
# error in exact arithmetic, 3.5e-7 at most evaluated in float32 over
# [-12, 12] (np.tanh in float32: 6e-8).  That is far below the ~1e-6 error of
# each layer's float32 dot products, and the float32 tolerance.
TANH_CLAMP = 9.0
TANH_P = (0.999999906358794, 0.13373206653245956, 0.0034865924855720302, 2.047200229959282e-05, 1.3184456011488456e-08)
TANH_Q = (1.0, 0.4670650351889647, 0.025842019615074756, 0.00032714026092401396, 7.702759780776661e-07)

# error_model="numpy": a float division by zero is inf, not a raised
# exception -- the check that raising needs keeps loops from vectorising.
# fastmath contract only: fused multiply-adds, no reassociation.
_JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def _accumulate(h, rows, source):
    """h += rows^T source: the rows of ``rows`` (len(source), 2C) weighted by ``source``."""
    # Four rows per pass over h: a quarter of the loads and stores of h.
    # Written as one left-to-right chain, the four terms contract to four
    # fused multiply-adds (a balanced tree would cost two extra mul/add).
    main = source.size - source.size % 4
    for i in range(0, main, 4):
        v0, v1, v2, v3 = source[i], source[i + 1], source[i + 2], source[i + 3]
        w0, w1, w2, w3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        for o in range(h.size):
            h[o] = h[o] + w0[o] * v0 + w1[o] * v1 + w2[o] * v2 + w3[o] * v3
    for i in range(main, source.size):
        v = source[i]
        w = rows[i]
        for o in range(h.size):
            h[o] += w[o] * v


@numba.njit(inline="always", **_JIT)
def _project(packed, bias, past, present, h):
    """h = bias + packed[:C]^T past + packed[C:]^T present, for packed (2C, 2C)."""
    channels = present.size
    h[:] = bias
    _accumulate(h, packed[:channels], past)
    _accumulate(h, packed[channels:], present)


@numba.njit(inline="always", **_JIT)
def _gate(state, h, out, tanh_coef, exact):
    """out = state + tanh(h[:C]) * sigmoid(h[C:]); ``out`` may be ``state``."""
    channels = state.size
    h_tanh = h[:channels]
    h_sigmoid = h[channels:]
    if exact:
        for c in range(channels):
            out[c] = state[c] + np.tanh(h_tanh[c]) * (0.5 + 0.5 * np.tanh(0.5 * h_sigmoid[c]))
        return
    p0, p1, p2, p3, p4 = tanh_coef[0], tanh_coef[1], tanh_coef[2], tanh_coef[3], tanh_coef[4]
    q0, q1, q2, q3, q4 = tanh_coef[5], tanh_coef[6], tanh_coef[7], tanh_coef[8], tanh_coef[9]
    clamp, half = tanh_coef[10], tanh_coef[11]
    for c in range(channels):
        a = min(max(h_tanh[c], -clamp), clamp)
        s = a * a
        tanh_a = a * ((((p4 * s + p3) * s + p2) * s + p1) * s + p0) / ((((q4 * s + q3) * s + q2) * s + q1) * s + q0)
        b = min(max(half * h_sigmoid[c], -clamp), clamp)
        s = b * b
        tanh_b = b * ((((p4 * s + p3) * s + p2) * s + p1) * s + p0) / ((((q4 * s + q3) * s + q2) * s + q1) * s + q0)
        out[c] = state[c] + tanh_a * (half + half * tanh_b)


@numba.njit(**_JIT)
def _stream(x, y, ring, packed, biases, dilations, ring_offset, ring_mask, tanh_coef, exact):
    """One sample's stream: x and y (C, T); ring (slots, C) all zeros."""
    channels, steps = x.shape
    state = np.empty(channels, dtype=x.dtype)
    h = np.empty(2 * channels, dtype=x.dtype)
    for t in range(steps):
        for c in range(channels):
            state[c] = x[c, t]
        for layer in range(packed.shape[0]):
            mask = ring_mask[layer]
            past = ring[ring_offset[layer] + ((t - dilations[layer]) & mask)]  # x_l[t - d], or padding
            _project(packed[layer], biases[layer], past, state, h)
            ring[ring_offset[layer] + (t & mask)] = state
            _gate(state, h, state, tanh_coef, exact)
        for c in range(channels):
            y[c, t] = state[c]


@numba.njit(**_JIT)
def _stream_naive(x, y, packed, biases, dilations, extents, tanh_coef, exact):
    """One sample's stream, recomputing each step's receptive field: x and y (C, T)."""
    channels, steps = x.shape
    width = min(extents[0] + 1, max(steps, 1))
    # Two time-major windows, a layer's input and its output, swapped per layer.
    window_in = np.empty((width, channels), dtype=x.dtype)
    window_out = np.empty((width, channels), dtype=x.dtype)
    padding = np.zeros(channels, dtype=x.dtype)
    h = np.empty(2 * channels, dtype=x.dtype)
    for t in range(steps):
        start = max(0, t - extents[0])
        for s in range(start, t + 1):
            for c in range(channels):
                window_in[s - start, c] = x[c, s]
        for layer in range(packed.shape[0]):
            d = dilations[layer]
            next_start = max(0, t - extents[layer + 1])
            for s in range(next_start, t + 1):
                # Steps before `start` are before t = 0 (see receptive_extents): padding.
                past = window_in[s - d - start] if s - d >= start else padding
                _project(packed[layer], biases[layer], past, window_in[s - start], h)
                _gate(window_in[s - start], h, window_out[s - next_start], tanh_coef, exact)
            window_in, window_out = window_out, window_in
            start = next_start
        for c in range(channels):
            y[c, t] = window_in[t - start, c]


@numba.njit(parallel=True, **_JIT)
def _stream_batch(x, packed, biases, dilations, ring_offset, ring_mask, tanh_coef, exact):
    y = np.empty_like(x)
    for sample in numba.prange(x.shape[0]):
        ring = np.zeros((ring_offset[-1], x.shape[1]), dtype=x.dtype)
        _stream(x[sample], y[sample], ring, packed, biases, dilations, ring_offset, ring_mask, tanh_coef, exact)
    return y


@numba.njit(parallel=True, **_JIT)
def _stream_naive_batch(x, packed, biases, dilations, extents, tanh_coef, exact):
    y = np.empty_like(x)
    for sample in numba.prange(x.shape[0]):
        _stream_naive(x[sample], y[sample], packed, biases, dilations, extents, tanh_coef, exact)
    return y


def _pack(weights):
    """(layers, 2C, C, 2) -> (layers, 2C inputs, 2C outputs): input rows
    0..C-1 are tap 0 (x_l[t-d]), rows C..2C-1 tap 1 (x_l[t]).  One strided
    copy, ~0.25 ms for C = 64 and 20 layers: part of every timed call."""
    layers, outputs, channels, _ = weights.shape
    return np.ascontiguousarray(weights.transpose(0, 3, 2, 1)).reshape(layers, 2 * channels, outputs)


def _tanh_coefficients(dtype):
    return np.array(TANH_P + TANH_Q + (TANH_CLAMP, 0.5), dtype=dtype)


@register("wavenet_stream", backend="numba")
def wavenet_stream(x, weights, biases, dilations):
    capacity = [1 << (d - 1).bit_length() for d in dilations]  # the power of two >= d
    ring_offset = np.concatenate([[0], np.cumsum(capacity, dtype=np.int64)]).astype(np.int64)
    args = (
        _pack(weights),
        biases,
        np.array(dilations, dtype=np.int64).reshape(-1),
        ring_offset,
        np.array(capacity, dtype=np.int64).reshape(-1) - 1,
        _tanh_coefficients(x.dtype),
        bool(x.dtype == np.float64),
    )
    if x.shape[0] > 1:
        return _stream_batch(x, *args)
    y = np.empty_like(x)
    _stream(x[0], y[0], np.zeros((ring_offset[-1], x.shape[1]), dtype=x.dtype), *args)
    return y


@register("wavenet_stream", backend="numba", name="numba_naive")
def wavenet_stream_naive(x, weights, biases, dilations):
    args = (
        _pack(weights),
        biases,
        np.array(dilations, dtype=np.int64).reshape(-1),
        np.array(receptive_extents(dilations), dtype=np.int64),
        _tanh_coefficients(x.dtype),
        bool(x.dtype == np.float64),
    )
    if x.shape[0] > 1:
        return _stream_naive_batch(x, *args)
    y = np.empty_like(x)
    _stream_naive(x[0], y[0], *args)
    return y
