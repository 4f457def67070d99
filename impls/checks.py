"""Input checks shared by every op spec.

Each error names the argument, what was expected and what was given, in the
manner of torchvision's TORCH_CHECKs.
"""

from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = ("float16", "float32", "float64")


def float_array(name: str, value, ndim: int | None = None, dtypes=FLOAT_DTYPES, allow_nan: bool = False) -> np.ndarray:
    """A floating NumPy array of rank ``ndim``, finite unless ``allow_nan``.

    Whatever layout the array has -- non-contiguous, negative or zero
    strides, big-endian, misaligned -- it is turned here, once, into a
    C-contiguous, aligned array of native byte order (copied only when it is
    not one already), so no kernel ever sees a layout it does not handle.
    Subclasses become plain arrays (np.matrix's ``*`` is a matrix product);
    a masked array is refused: kernels would read the values its mask hides.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain numpy.ndarray, not a masked array (kernels would read masked values)")
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(value).__name__}")
    if value.dtype.name not in dtypes:
        raise TypeError(f"{name} must have dtype {' or '.join(dtypes)}; got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got {value.ndim}-D with shape {value.shape}")
    value = np.asarray(value)
    if not allow_nan and value.size and not np.isfinite(value).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    value = np.require(value, dtype=value.dtype.newbyteorder("="), requirements=("C", "A"))
    # NumPy calls an array contiguous whatever the strides of its length-1
    # axes; a negative one there (a reversed view) still trips torch.from_numpy.
    return value.copy() if any(stride < 0 for stride in value.strides) else value


def same_dtype(**arrays: np.ndarray) -> None:
    names = list(arrays)
    first = arrays[names[0]]
    for name in names[1:]:
        if arrays[name].dtype != first.dtype:
            raise TypeError(f"{name} must have the dtype of {names[0]} ({first.dtype}); got {arrays[name].dtype}")


def shape_is(name: str, array: np.ndarray, expected: tuple) -> None:
    """``expected`` may hold None for a free dimension."""
    if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
        shown = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {shown}; got {array.shape}")


def real_number(name: str, value, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}]; got {value}")
    return value


def int_pair(name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be an int or a pair of ints; got {value!r}")
    out = []
    for item in pair:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{name} must be an int or a pair of ints; got {value!r}")
        if item < minimum:
            raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
        out.append(int(item))
    return (out[0], out[1])


def positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)
