"""conv2d in Numba: a compiled im2col that reads x directly (zero padding by
index arithmetic, no padded copy) into a bounded column buffer, then one BLAS
GEMM per (image, group) on its contiguous 2-D blocks.

PyPI Numba has no BLAS of its own (np.dot in njit needs SciPy), so the GEMMs
run from NumPy's matmul, between the compiled im2col steps.  That alternation
is why the im2col is serial: with parallel=True, Numba's OpenMP workers
spin-wait after every im2col step on the cores OpenBLAS's threads then need;
on the 2-core machine ResNet 3x3 took ~60 ms instead of ~15-20 ms (8 steps, a
scheduler quantum lost on each).  Without the spin (OMP_WAIT_POLICY=passive or
the workqueue layer) the parallel im2col measured no faster than this serial
one: the GEMM is most of the time, and BLAS already uses every thread.
"""

import numba
import numpy as np

from impls.conv2d.spec import im2col_geometry
from impls.registry import register


@numba.njit(inline="always", cache=True)
def _valid_range(offset, stride, size, out_size):
    """[lo, hi): the outputs o whose input o * stride + offset lies in [0, size)."""
    lo = min(out_size, max(0, (stride - 1 - offset) // stride))  # ceil(-offset / stride)
    return lo, max(lo, min(out_size, (size - 1 - offset) // stride + 1))


@numba.njit(cache=True)
def _im2col(x, n0, col, kh, kw, sh, sw, ph, pw, dh, dw):
    """col[b, (c * kh + i) * kw + j, oh, ow] = xpad[n0 + b, c, oh * sh + i * dh, ow * sw + j * dw]."""
    steps, _, ho, wo = col.shape
    cin, h, w = x.shape[1], x.shape[2], x.shape[3]
    for b in range(steps):
        for c in range(cin):
            plane = x[n0 + b, c]
            for i in range(kh):
                # Tap (i, j) reads x at (oh * sh + top, ow * sw + left): inside x
                # only on [oh_lo, oh_hi) x [ow_lo, ow_hi), zero padding elsewhere.
                top = i * dh - ph
                oh_lo, oh_hi = _valid_range(top, sh, h, ho)
                for j in range(kw):
                    out = col[b, (c * kh + i) * kw + j]
                    left = j * dw - pw
                    ow_lo, ow_hi = _valid_range(left, sw, w, wo)
                    for oh in range(ho):
                        # A row outside x is all padding: an empty copy span at its end.
                        lo, hi = (ow_lo, ow_hi) if oh_lo <= oh < oh_hi else (wo, wo)
                        # Unsigned indices skip Numba's negative-index wraparound
                        # test, which kept these loops from vectorising (5x slower).
                        r, ih = np.uint64(oh), np.uint64(oh * sh + top)
                        for ow in range(lo):
                            out[r, np.uint64(ow)] = 0
                        for ow in range(lo, hi):
                            out[r, np.uint64(ow)] = plane[ih, np.uint64(ow * sw + left)]
                        for ow in range(hi, wo):
                            out[r, np.uint64(ow)] = 0


@register("conv2d", backend="numba")
def conv2d(x, weight, bias, stride, padding, dilation, groups, im2col_step=None):
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo, rows, step = im2col_geometry(x, weight, stride, padding, dilation, im2col_step)

    col = np.empty((step, rows, ho, wo), x.dtype)
    # Row (c * kh + i) * kw + j of col is row j + kw * (i + kh * (c % (Cin / groups)))
    # of group c // (Cin / groups): the same bytes viewed as (s, groups, K, Ho * Wo).
    col_groups = col.reshape(step, groups, rows // groups, ho * wo)
    weight_rows = weight.reshape(groups, cout // groups, rows // groups)
    y = np.empty((n, cout, ho, wo), x.dtype)
    for n0 in range(0, n, step):
        s = min(step, n - n0)
        _im2col(x, n0, col[:s], kh, kw, sh, sw, ph, pw, dh, dw)
        y_step = y[n0 : n0 + s].reshape(s, groups, cout // groups, ho * wo)
        np.matmul(weight_rows, col_groups[:s], out=y_step)
        if bias is not None:  # added while this step's output is still in cache
            y_step += bias.reshape(groups, cout // groups, 1)
    return y
