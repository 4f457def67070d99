"""causal_conv1d in Numba: a direct convolution, time-vectorised.

Tasks of (sample, block of OUT_BLOCK output channels, block of TIME_BLOCK
samples) run in parallel.  Each task starts its output rows at the bias and
adds, for every input channel and tap, weight * (the input row shifted by
(k-1-j) * dilation): one input load feeds OUT_BLOCK multiply-adds, and the
inner loop over time is stride-1, so it vectorises.  The padding is never
built: a tap simply starts at the first output that reads a real sample.
"""

import numba
import numpy as np

from impls.registry import register

OUT_BLOCK = 4  # output rows sharing one input load: 4 row streams + 1 input stream fit the vectoriser
TIME_BLOCK = 1024  # 4 output rows + 1 input row of 1024 float32 = 20 KiB: the task's working set stays in L1


@numba.njit(cache=True, parallel=True, fastmath={"contract"}, error_model="numpy")
def _conv(x, weight, bias, dilation):
    n, cin, length = x.shape
    cout, _, k = weight.shape
    y = np.empty((n, cout, length), x.dtype)
    out_blocks = (cout + OUT_BLOCK - 1) // OUT_BLOCK
    time_blocks = (length + TIME_BLOCK - 1) // TIME_BLOCK
    for task in numba.prange(n * out_blocks * time_blocks):
        sample = task // (out_blocks * time_blocks)
        o0 = (task // time_blocks) % out_blocks * OUT_BLOCK
        o1 = min(o0 + OUT_BLOCK, cout)
        t0 = task % time_blocks * TIME_BLOCK
        t1 = min(t0 + TIME_BLOCK, length)
        for o in range(o0, o1):
            y[sample, o, t0:t1] = bias[o]
        for i in range(cin):
            for j in range(k):
                shift = (k - 1 - j) * dilation
                first = max(t0, shift)  # earlier outputs read only padding for this tap
                if first >= t1:
                    continue
                # Slices, then loops from 0: indices NumPy-style wraparound never
                # has to check, so the loops vectorise.
                source = x[sample, i, first - shift : t1 - shift]
                if o1 - o0 == OUT_BLOCK:
                    w0, w1, w2, w3 = weight[o0, i, j], weight[o0 + 1, i, j], weight[o0 + 2, i, j], weight[o0 + 3, i, j]
                    y0 = y[sample, o0, first:t1]
                    y1 = y[sample, o0 + 1, first:t1]
                    y2 = y[sample, o0 + 2, first:t1]
                    y3 = y[sample, o0 + 3, first:t1]
                    for a in range(source.size):
                        v = source[a]
                        y0[a] += w0 * v
                        y1[a] += w1 * v
                        y2[a] += w2 * v
                        y3[a] += w3 * v
                else:  # the last, partial block of output channels
                    for o in range(o0, o1):
                        w = weight[o, i, j]
                        row = y[sample, o, first:t1]
                        for a in range(source.size):
                            row[a] += w * source[a]
    return y


@register("causal_conv1d", backend="numba")
def causal_conv1d(x, weight, bias, dilation):
    if bias is None:
        bias = np.zeros(weight.shape[0], dtype=x.dtype)
    return _conv(x, weight, bias, dilation)
