"""numba.cuda: device arrays of numba's CUDA target, kernels written in Python."""

import numpy as np

from impls.backends import Backend, register


class NumbaEventClock:
    """numba.cuda events on the default stream, where a kernel launched
    without an explicit stream runs."""

    name = "numba.cuda.event"

    def record(self):
        from numba import cuda

        event = cuda.event(timing=True)
        event.record(stream=0)
        return event

    def elapsed(self, start, end) -> float:
        from numba import cuda

        end.synchronize()
        return cuda.event_elapsed_time(start, end) / 1e3


class NumbaCudaBackend(Backend):
    name = "numba_cuda"
    devices = ("cuda",)
    module = "numba"
    order = 3

    def cuda_reason(self):
        from numba import cuda

        return "" if cuda.is_available() else "no CUDA device"

    def to_native(self, value, device):
        from numba import cuda

        return cuda.to_device(value) if isinstance(value, np.ndarray) else value

    def to_numpy(self, value, dtype):
        return value.copy_to_host() if hasattr(value, "copy_to_host") else np.asarray(value)

    def synchronize(self, device):
        from numba import cuda

        cuda.synchronize()

    def event_clock(self):
        return NumbaEventClock()


register(NumbaCudaBackend())
