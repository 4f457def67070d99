"""Backends: how NumPy inputs become a backend's native arrays and back, and
whether the backend can run here.

The harness converts before timing and converts back after, so a timed call
holds only the implementation itself.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np


class Backend:
    name = ""
    devices: tuple[str, ...] = ("cpu",)
    module = ""  # the package the backend needs

    def unavailable_reason(self, device: str) -> str:
        if device not in self.devices:
            return f"backend {self.name} has no {device} device"
        if self.module and _import_error(self.module):
            return f"{self.module} is not installed ({_import_error(self.module)})"
        if device == "cuda":
            return self.cuda_reason()
        return ""

    def cuda_reason(self) -> str:
        return "no CUDA device"

    def to_native(self, value, device: str):
        return value

    def to_numpy(self, value, dtype) -> np.ndarray:
        return np.asarray(value)

    def synchronize(self, device: str) -> None:
        pass


@functools.cache
def _import_error(module: str) -> str:
    try:
        importlib.import_module(module)
    except Exception as exc:  # an installed but broken package is unavailable too
        return f"{type(exc).__name__}: {exc}"
    return ""


class PythonBackend(Backend):
    """Nested lists of Python floats and ints."""

    name = "python"

    def to_native(self, value, device):
        return value.tolist() if isinstance(value, np.ndarray) else value

    def to_numpy(self, value, dtype):
        array = np.asarray(value)
        # Lists of floats come back as float64; the op's output dtype is the input's.
        return array.astype(dtype) if array.dtype.kind == "f" else array


class NumpyBackend(Backend):
    name = "numpy"


class NumbaBackend(Backend):
    name = "numba"
    module = "numba"


class TorchBackend(Backend):
    name = "torch"
    devices = ("cpu", "cuda")
    module = "torch"

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


class ExtBackend(TorchBackend):
    """The project's own C++/CUDA extension; its arrays are torch tensors."""

    name = "ext"

    def unavailable_reason(self, device):
        if ext_module() is None:
            return f"the extension impls._C is not built ({_ext_error}); reinstall: pip install -e ."
        return super().unavailable_reason(device)

    def cuda_reason(self):
        if not ext_module().with_cuda:
            return "the extension was built without CUDA (no nvcc at build time)"
        return super().cuda_reason()


_ext_error = ""


@functools.cache
def ext_module():
    """impls._C, or None if it is not built (the reason goes to ext's availability)."""
    global _ext_error
    try:
        import torch  # noqa: F401  (loads libtorch, which impls._C links against)

        from impls import _C
    except ImportError as exc:
        _ext_error = str(exc)
        return None
    return _C


class CupyBackend(Backend):
    name = "cupy"
    devices = ("cuda",)
    module = "cupy"

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


class NumbaCudaBackend(Backend):
    name = "numba_cuda"
    devices = ("cuda",)
    module = "numba"

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


_BACKENDS = {
    b.name: b
    for b in (
        PythonBackend(),
        NumpyBackend(),
        NumbaBackend(),
        NumbaCudaBackend(),
        CupyBackend(),
        ExtBackend(),
        TorchBackend(),
    )
}


def get(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(_BACKENDS)}") from None
