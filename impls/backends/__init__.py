"""Backends: one module each in this package, holding one ``Backend``: how
NumPy inputs become the backend's native arrays and back, whether it can run
here (and why not), how to wait for its device, and the clock its GPU
kernels are timed with.  A module here is found and registered on import:
adding a backend is its module plus its implementations
(``impls/<op>/<backend>.py``).

The harness converts before timing and converts back after, so a timed call
holds only the implementation itself.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

import numpy as np


class Backend:
    name = ""
    devices: tuple[str, ...] = ("cpu",)
    module = ""  # the package the backend needs
    order = 100  # where its implementations are listed: the project's own backends first

    def unavailable_reason(self, device: str) -> str:
        if device not in self.devices:
            return f"backend {self.name} has no {device} device"
        if self.module and import_error(self.module):
            return f"{self.module} is not installed ({import_error(self.module)})"
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

    def event_clock(self):
        """The device clock its CUDA kernels are timed with: an object with
        ``record()`` (an event on the stream the backend launches on),
        ``elapsed(start, end)`` in seconds and a ``name``; None for a
        CPU-only backend."""
        return None


@functools.cache
def import_error(module: str) -> str:
    try:
        importlib.import_module(module)
    except Exception as exc:  # an installed but broken package is unavailable too
        return f"{type(exc).__name__}: {exc}"
    return ""


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    return backend


@functools.cache
def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def names() -> tuple[str, ...]:
    """Every backend's name, in listing order."""
    _discover()
    return tuple(sorted(_BACKENDS, key=lambda n: (_BACKENDS[n].order, n)))


def get(name: str) -> Backend:
    _discover()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(names())}") from None
