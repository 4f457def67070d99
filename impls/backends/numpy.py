"""NumPy arrays as they are."""

from impls.backends import Backend, register


class NumpyBackend(Backend):
    name = "numpy"
    order = 1


register(NumpyBackend())
