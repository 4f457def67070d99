"""convlstm_cell in Numba: for each band of image rows, an im2col of cat(x, h)
read straight from x and h (the concatenation and the zero padding are never
materialised), one GEMM by NumPy's BLAS, and one fused pass that adds the
bias, applies the gates and writes h' and c'.

- The GEMM stays outside njit because Numba's np.dot needs SciPy, which is not
  a dependency; it is ~90% of the work and BLAS runs it on every thread.
- im2col and the gate pass are serial on purpose: after each GEMM, BLAS's
  worker threads keep spinning for new work, and on this two-core machine a
  Numba parallel region right then fights them.  Measured on the large case:
  parallel helpers were 1.5x slower with whole-image bands and 2-4x slower
  with 512-pixel bands.
- Bands: one BLAS call per band, and each call re-synchronises BLAS's threads,
  so bands are as large as BAND_PIXELS allows (the whole 64 x 64 image of the
  large case: a 14 MiB column buffer, reused by every sample, inside L3)."""

import numba
import numpy as np

from impls.numba_activations import sigmoid, tanh_sigmoid
from impls.registry import register

# error_model="numpy" and "contract": see impls/gated_unit/numba.py.
_JIT = dict(error_model="numpy", fastmath={"contract"})

# Most pixels per band (whole rows, at least one).
BAND_PIXELS = 4096


@numba.njit(**_JIT)
def _shifted_row(src, dst, shift):
    """dst[j] = src[j + shift], zero where j + shift falls outside src."""
    width = dst.size
    lo = min(max(0, -shift), width)
    hi = max(min(width, width - shift), lo)
    for j in range(lo):
        dst[j] = 0
    for j in range(lo, hi):
        dst[j] = src[j + shift]
    for j in range(hi, width):
        dst[j] = 0


@numba.njit(**_JIT)
def _im2col_band(x, h, sample, y0, rows, k, columns):
    """columns[(ch * k + dy) * k + dx, r * W + j] = cat(x, h)[sample, ch, y0 + r + dy - k//2, j + dx - k//2],
    zero outside the image."""
    in_channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    pad = k // 2
    for row in range(columns.shape[0]):
        ch = row // (k * k)
        dy = (row // k) % k
        dx = row % k
        for r in range(rows):
            y = y0 + r + dy - pad
            dst = columns[row, r * width : (r + 1) * width]
            if y < 0 or y >= height:
                dst[:] = 0
            elif ch < in_channels:
                _shifted_row(x[sample, ch, y], dst, dx - pad)
            else:
                _shifted_row(h[sample, ch - in_channels, y], dst, dx - pad)


@numba.njit(**_JIT)
def _gate_run(zi, zf, zg, zo, bi, bf, bg, bo, c, h_next, c_next):
    """One hidden channel's run of pixels: contiguous 1-D slices, a loop LLVM vectorises."""
    for p in range(c.size):
        cell = sigmoid(zf[p] + bf) * c[p] + tanh_sigmoid(zg[p] + bg, zi[p] + bi)  # f * c + i * g
        c_next[p] = cell
        h_next[p] = tanh_sigmoid(cell, zo[p] + bo)  # o * tanh(c')


@numba.njit(**_JIT)
def _gate_band(gates, bias, c, sample, start, h_next, c_next):
    hidden = c.shape[1]
    pixels = c.shape[2] * c.shape[3]
    stop = start + gates.shape[1]
    c_flat = c[sample].reshape(hidden, pixels)
    h_out = h_next[sample].reshape(hidden, pixels)
    c_out = c_next[sample].reshape(hidden, pixels)
    for j in range(hidden):
        _gate_run(gates[j], gates[hidden + j], gates[2 * hidden + j], gates[3 * hidden + j],
                  bias[j], bias[hidden + j], bias[2 * hidden + j], bias[3 * hidden + j],
                  c_flat[j, start:stop], h_out[j, start:stop], c_out[j, start:stop])


@register("convlstm_cell", backend="numba")
def convlstm_cell(x, h, c, weight, bias):
    return banded_convlstm_cell(x, h, c, weight, bias, BAND_PIXELS)


def banded_convlstm_cell(x, h, c, weight, bias, band_pixels):
    """The implementation, with bands of at most ``band_pixels`` pixels (tests use small bands)."""
    batch, _, height, width = x.shape
    hidden, channels, k = h.shape[1], weight.shape[1], weight.shape[-1]
    reduction = channels * k * k
    weight_matrix = weight.reshape(4 * hidden, reduction)  # rows: gates; columns: (channel, dy, dx)
    band_rows = max(1, min(height, band_pixels // width))
    columns = np.empty(reduction * band_rows * width, x.dtype)
    gates = np.empty(4 * hidden * band_rows * width, x.dtype)
    h_next, c_next = np.empty_like(h), np.empty_like(c)
    for sample in range(batch):
        for y0 in range(0, height, band_rows):
            pixels = min(band_rows, height - y0) * width
            # Dense prefixes of the buffers, so a shorter last band is contiguous too.
            band_columns = columns[: reduction * pixels].reshape(reduction, pixels)
            band_gates = gates[: 4 * hidden * pixels].reshape(4 * hidden, pixels)
            _im2col_band(x, h, sample, y0, pixels // width, k, band_columns)
            np.matmul(weight_matrix, band_columns, out=band_gates)
            _gate_band(band_gates, bias, c, sample, y0 * width, h_next, c_next)
    return h_next, c_next
