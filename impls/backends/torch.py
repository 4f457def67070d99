"""Stock torch: tensors on the CPU or the current CUDA device. Its
implementations are the baseline every speedup is taken against."""

import numpy as np

from impls.backends import Backend, register


class TorchEventClock:
    """torch.cuda.Event on torch's current stream (torch and ext launch there)."""

    name = "torch.cuda.Event"

    def record(self):
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream())
        return event

    def elapsed(self, start, end) -> float:
        end.synchronize()
        return start.elapsed_time(end) / 1e3


class TorchBackend(Backend):
    name = "torch"
    devices = ("cpu", "cuda")
    module = "torch"
    order = 6

    def cuda_reason(self):
        import torch

        return "" if torch.cuda.is_available() else "no CUDA device"

    def to_native(self, value, device):
        if isinstance(value, np.ndarray):
            import torch

            # torch has no read-only tensors: from_numpy would share a read-only
            # array's memory and warn; a copy (outside any timed region) does not.
            value = np.ascontiguousarray(value) if value.flags.writeable else value.copy()
            return torch.from_numpy(value).to(device)
        return value

    def to_numpy(self, value, dtype):
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
        return np.asarray(value)

    def synchronize(self, device):
        if device == "cuda":
            import torch

            torch.cuda.synchronize()

    def event_clock(self):
        return TorchEventClock()


register(TorchBackend())
