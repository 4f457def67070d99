"""Overflow-free logistic sigmoid for NumPy arrays and Python floats, shared by
the gated_unit, lstm_cell and convlstm_cell references and backends.

sigmoid(z) = 1 / (1 + exp(-z)) overflows exp for z < -88 (float32) or -709
(float64).  With e = exp(-|z|) in (0, 1] it is 1 / (1 + e) for z >= 0 and
e / (1 + e) for z < 0: no overflow, and full relative accuracy at both tails.
"""

from __future__ import annotations

import math

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid of an array, in its dtype."""
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    numerator = np.where(z >= 0, 1, e).astype(z.dtype, copy=False)
    e += 1
    numerator /= e
    return numerator


def logistic(z: float) -> float:
    """Logistic sigmoid of a Python float (math.exp raises OverflowError past 709)."""
    e = math.exp(-abs(z))
    return (1.0 if z >= 0 else e) / (1.0 + e)
