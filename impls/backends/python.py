"""Pure Python: nested lists of floats and ints."""

import numpy as np

from impls.backends import Backend, register


class PythonBackend(Backend):
    name = "python"
    order = 0

    def to_native(self, value, device):
        return value.tolist() if isinstance(value, np.ndarray) else value

    def to_numpy(self, value, dtype):
        array = np.asarray(value)
        # Lists of floats come back as float64; the op's output dtype is the input's.
        return array.astype(dtype) if array.dtype.kind == "f" else array


register(PythonBackend())
