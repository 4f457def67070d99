"""Sigmoid and tanh for Numba kernels, written so that LLVM vectorises them.

Numba from PyPI has no SVML: ``np.exp``/``np.tanh`` compile to scalar libm
calls (2-4 ns an element) and stop the loop around them from vectorising.
These use only +, *, /, floor, compare-select and an exponent-field write, all
of which vectorise.  Used by the gated_unit, lstm_cell and convlstm_cell Numba
kernels.

The one primitive is exp(t) for t <= 0, split as 2**n * (1 + p):

- range reduction (Cody-Waite): n = round(t / ln 2), r = t - n ln 2 with ln 2
  in a high part exact in n * LN2_HI and a low correction, so |r| <= ln2 / 2
  (0.347) up to rounding;
- p = expm1(r) by its Taylor polynomial to degree 7 (float32) or 13 (float64).
  The first omitted term bounds the relative error of p: 0.347**7 / 8! = 1.5e-8
  (float32 ulp/2 = 6e-8) and 0.347**13 / 14! = 1.2e-17 (float64 ulp/2 = 1.1e-16);
- 2**n by writing n + bias into the exponent field (``_pow2``; ``ldexp`` is a
  libm call).  t is clamped to T_MIN first so that 2**n stays a normal number
  (-87 -> n = -126 in float32, -708 -> n = -1021 in float64): below the clamp
  exp(t) reads as exp(T_MIN), an absolute error under 1.7e-38 / 3.3e-308.

From the split:

- exp(t)   = 2**n + 2**n * p;
- expm1(t) = 2**n * p + (2**n - 1), exact to a few ulps even near t = 0, where
  n = 0 and it is p itself: this is what removes the cancellation of
  tanh(a) = 1 - 2 / (1 + exp(2a)) near 0;
- sigmoid(z) = 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0, e = exp(-|z|);
- tanh(a) = sign(a) * -m / (2 + m), m = expm1(-2|a|) in (-1, 0].

Every denominator lies in [1, 4], so nothing overflows, and each result is a
few operations of relative error ~1 ulp each: the measured worst case over a
dense sweep of [-20, 20] is recorded in MAX_REL_ERROR and checked by
tests/test_gated_unit.py.

Kernels that use these are compiled with error_model="numpy" (a Python-style
ZeroDivisionError check per division stops vectorisation) and without
cache=True: Numba's cache checks only the kernel's own file, so an edit here
would leave other ops' kernels running stale machine code.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

# Bounds on the relative error of sigmoid, tanh and tanh_sigmoid against
# float64 NumPy (itself within ~1 ulp of exact), over a dense sweep of
# [-20, 20] and tiny magnitudes; measured worst: 3.2e-7 (2.7 float32 ulps) and
# 8.4e-16 (3.8 float64 ulps).  tests/test_gated_unit.py holds them.
MAX_REL_ERROR = {"float32": 4.8e-7, "float64": 2.0e-15}

_LOG2E = 1.4426950408889634
# ln 2 split for Cody-Waite: LN2_HI has its low mantissa bits zero, so n * LN2_HI
# is exact for |n| < 2**9 (float32) / 2**20 (float64); here |n| <= 126 / 1022.
_LN2_HI_32, _LN2_LO_32 = 0.693145751953125, 1.428606765330187e-06
_LN2_HI_64, _LN2_LO_64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10

F32 = np.float32
LOG2E_32, LN2_HI_32, LN2_LO_32 = F32(_LOG2E), F32(_LN2_HI_32), F32(_LN2_LO_32)
T_MIN_32 = F32(-87.0)
HALF_32, ONE_32 = F32(0.5), F32(1.0)
# 1/k! for k = 2..7: expm1(r) = r + r^2/2! + ... + r^7/7!
C2_32, C3_32, C4_32, C5_32, C6_32, C7_32 = (F32(1.0 / f) for f in (2, 6, 24, 120, 720, 5040))

LOG2E_64, LN2_HI_64, LN2_LO_64 = _LOG2E, _LN2_HI_64, _LN2_LO_64
T_MIN_64 = -708.0
# 1/k! for k = 2..13
C2_64, C3_64, C4_64, C5_64, C6_64, C7_64, C8_64, C9_64, C10_64, C11_64, C12_64, C13_64 = (
    1.0 / f for f in (2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600, 6227020800)
)


@intrinsic
def _pow2(typingctx, n):
    """2.0**n for an integral-valued float n in the normal exponent range: the
    biased exponent n + bias shifted into place and reinterpreted."""
    if not isinstance(n, types.Float):
        return None
    width = n.bitwidth
    mantissa_bits, bias = (23, 127) if width == 32 else (52, 1023)

    def codegen(context, builder, signature, args):
        int_type = ir.IntType(width)
        biased = builder.add(builder.fptosi(args[0], int_type), ir.Constant(int_type, bias))
        return builder.bitcast(builder.shl(biased, ir.Constant(int_type, mantissa_bits)), args[0].type)

    return n(n), codegen


@numba.njit(error_model="numpy", fastmath={"contract"})
def _exp_split_32(t):
    t = t if t > T_MIN_32 else T_MIN_32
    n = np.floor(t * LOG2E_32 + HALF_32)
    r = (t - n * LN2_HI_32) - n * LN2_LO_32
    p = r + r * r * (C2_32 + r * (C3_32 + r * (C4_32 + r * (C5_32 + r * (C6_32 + r * C7_32)))))
    return _pow2(n), p


@numba.njit(error_model="numpy", fastmath={"contract"})
def _exp_split_64(t):
    t = t if t > T_MIN_64 else T_MIN_64
    n = np.floor(t * LOG2E_64 + 0.5)
    r = (t - n * LN2_HI_64) - n * LN2_LO_64
    q = C8_64 + r * (C9_64 + r * (C10_64 + r * (C11_64 + r * (C12_64 + r * C13_64))))
    p = r + r * r * (C2_64 + r * (C3_64 + r * (C4_64 + r * (C5_64 + r * (C6_64 + r * (C7_64 + r * q))))))
    return _pow2(n), p


def exp_split(t):
    """(scale, p) with exp(t) = scale * (1 + p), scale a power of two; t <= 0."""
    raise NotImplementedError("exp_split is for Numba kernels")


@overload(exp_split)
def _exp_split_overload(t):
    if t == types.float32:
        return lambda t: _exp_split_32(t)
    if t == types.float64:
        return lambda t: _exp_split_64(t)
    return None


def one_like(z):
    """1 in z's float dtype (a literal 1 would promote float32 arithmetic to float64)."""
    raise NotImplementedError("one_like is for Numba kernels")


@overload(one_like)
def _one_like_overload(z):
    if z == types.float32:
        return lambda z: ONE_32
    if z == types.float64:
        return lambda z: 1.0
    return None


# inline="always" (Numba's own inlining) on the three entry points: left to
# LLVM, the float64 tanh_sigmoid stayed a call inside the caller's loop, which
# then did not vectorise (2.5 -> 25 ns an element).
@numba.njit(error_model="numpy", fastmath={"contract"}, inline="always")
def sigmoid(z):
    scale, p = exp_split(-abs(z))
    e = scale + scale * p
    one = one_like(z)
    return (one if z >= 0 else e) / (one + e)


@numba.njit(error_model="numpy", fastmath={"contract"}, inline="always")
def tanh(a):
    scale, p = exp_split(-(abs(a) + abs(a)))
    one = one_like(a)
    m = scale * p + (scale - one)  # expm1(-2|a|) in (-1, 0]
    t = -m / (one + one + m)
    return t if a >= 0 else -t


@numba.njit(error_model="numpy", fastmath={"contract"}, inline="always")
def tanh_sigmoid(a, b):
    """tanh(a) * sigmoid(b) with one division (the WaveNet gated tanh unit)."""
    scale_a, p_a = exp_split(-(abs(a) + abs(a)))
    scale_b, p_b = exp_split(-abs(b))
    one = one_like(a)
    m = scale_a * p_a + (scale_a - one)
    e = scale_b + scale_b * p_b
    t = (-m * (one if b >= 0 else e)) / ((one + one + m) * (one + e))
    return t if a >= 0 else -t


@numba.njit(parallel=True, error_model="numpy", fastmath={"contract"})
def sigmoid_array(z):
    """Elementwise ``sigmoid`` of a 1-D array (for tests and plots)."""
    out = np.empty_like(z)
    for i in numba.prange(z.size):
        out[i] = sigmoid(z[i])
    return out


@numba.njit(parallel=True, error_model="numpy", fastmath={"contract"})
def tanh_array(z):
    """Elementwise ``tanh`` of a 1-D array (for tests and plots)."""
    out = np.empty_like(z)
    for i in numba.prange(z.size):
        out[i] = tanh(z[i])
    return out


@numba.njit(parallel=True, error_model="numpy", fastmath={"contract"})
def tanh_sigmoid_array(a, b):
    """Elementwise ``tanh_sigmoid`` of two 1-D arrays (for tests)."""
    out = np.empty_like(a)
    for i in numba.prange(a.size):
        out[i] = tanh_sigmoid(a[i], b[i])
    return out
