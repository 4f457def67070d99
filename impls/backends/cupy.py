"""CuPy: its device arrays, raw CUDA C kernels compiled by NVRTC."""

import numpy as np

from impls.backends import Backend, register


class CupyEventClock:
    """cupy.cuda.Event on cupy's current stream."""

    name = "cupy.cuda.Event"

    def record(self):
        import cupy

        event = cupy.cuda.Event()
        event.record(cupy.cuda.get_current_stream())
        return event

    def elapsed(self, start, end) -> float:
        import cupy

        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3


class CupyBackend(Backend):
    name = "cupy"
    devices = ("cuda",)
    module = "cupy"
    order = 4

    def cuda_reason(self):
        import cupy

        try:
            return "" if cupy.cuda.runtime.getDeviceCount() > 0 else "no CUDA device"
        except Exception:
            return "no CUDA device"

    def to_native(self, value, device):
        import cupy

        return cupy.asarray(value) if isinstance(value, np.ndarray) else value

    def to_numpy(self, value, dtype):
        import cupy

        return cupy.asnumpy(value) if isinstance(value, cupy.ndarray) else np.asarray(value)

    def synchronize(self, device):
        import cupy

        cupy.cuda.get_current_stream().synchronize()

    def event_clock(self):
        return CupyEventClock()


register(CupyBackend())
