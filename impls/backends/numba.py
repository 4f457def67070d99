"""Numba's CPU target: NumPy arrays, compiled loops."""

from impls.backends import Backend, register


class NumbaBackend(Backend):
    name = "numba"
    module = "numba"
    order = 2


register(NumbaBackend())
