"""Everything the harness does on a CUDA device, behind one small interface.

A :class:`GpuDevice` describes the device (name, compute capability, SMs,
memory, L2, driver and runtime), hands out a :class:`DeviceClock` per backend
family, flushes the L2 cache, and prepares the GEMM and copy probes that
``bench.measuring.peaks`` turns into the device's peaks.  :func:`current` returns the
device of this machine (queried through torch.cuda, else cupy), or None where
there is none; tests install a CPU-backed stand-in with :func:`installed`.

Kernel time is device time: an event recorded on the implementation's stream
right before and right after each call, read once the round is done, so host
work between calls (the flush, the bookkeeping) stays out of the figure.  The
adaptive rounds are :func:`bench.measuring.timer.measure`'s; :func:`event_timed_calls`
is only the body of one round.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

# Written between calls when the device does not report its L2 size: larger
# than twice the L2 of any current NVIDIA part (H100 50 MB, B200 126 MB).
FLUSH_FALLBACK_BYTES = 256 * 2**20


class DeviceClock(Protocol):
    """Events on one backend family's current stream."""

    name: str

    def record(self) -> object:
        """Record an event on the stream the backend launches on; return it."""

    def elapsed(self, start: object, end: object) -> float:
        """Seconds between two recorded events, waiting for ``end`` to complete."""


class GpuDevice:
    """The interface the harness sees; :class:`CudaDevice` is the real one."""

    def info(self) -> dict:
        """The device the harness runs on: name, capability, sms, memory_bytes,
        l2_bytes, driver, driver_cuda, cuda_runtime, queried_via."""
        raise NotImplementedError

    def all_info(self) -> list[dict]:
        """Every visible device (the current one marked ``current: True``)."""
        return [{**self.info(), "current": True}]

    def clock(self, backend: str) -> DeviceClock:
        """The clock whose events sit on the stream ``backend`` launches on."""
        raise NotImplementedError

    def probe_clock(self) -> DeviceClock:
        """The clock for this device object's own probes (peaks)."""
        raise NotImplementedError

    def flush_bytes(self) -> int:
        """Bytes the L2 flush writes."""
        return l2_flush_bytes(self.info().get("l2_bytes"))

    def l2_flusher(self) -> Callable[[], None]:
        """A function that evicts the L2 by writing ``flush_bytes()`` to a
        device buffer (allocated once)."""
        raise NotImplementedError

    def synchronize(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def fp32_gemm(self, n: int) -> Iterator[Callable[[], object]]:
        """A call that multiplies two n x n float32 matrices on the device,
        TF32 off (full float32 arithmetic) while the context lasts."""
        raise NotImplementedError
        yield

    @contextlib.contextmanager
    def device_copy(self, nbytes: int) -> Iterator[Callable[[], object]]:
        """A call that copies ``nbytes`` from one device buffer to another."""
        raise NotImplementedError
        yield


def l2_flush_bytes(l2_bytes: int | None) -> int:
    """Bytes to write between calls so that no data of the previous call
    stays in L2: twice its size (the L2 is not a strict LRU, and H100-class
    parts split it in two partitions, so writing exactly its size leaves
    some earlier lines resident).  Unknown or zero: FLUSH_FALLBACK_BYTES."""
    if not l2_bytes or l2_bytes <= 0:
        return FLUSH_FALLBACK_BYTES
    return 2 * int(l2_bytes)


def event_timed_calls(
    fn: Callable[[], object],
    clock: DeviceClock,
    flush: Callable[[], None] | None = None,
    sync: Callable[[], None] | None = None,
) -> Callable[[int], float]:
    """The body of one timed round on the device, for ``timer.measure``:
    ``n`` calls, each between its own pair of events, the L2 flushed before
    each (outside the pair); returns the device seconds of the n calls.

    The flush is not followed by a synchronisation: it is queued on the same
    stream, so it keeps the device busy while the host queues the start
    event and the kernel, and the pair does not catch launch latency of an
    idle device."""

    def timed(n: int) -> float:
        pairs = []
        for _ in range(n):
            if flush is not None:
                flush()
            start = clock.record()
            fn()
            pairs.append((start, clock.record()))
        if sync is not None:
            sync()
        return sum(clock.elapsed(start, end) for start, end in pairs)

    return timed


# -- the real device -------------------------------------------------------------
def clock_for(backend: str) -> DeviceClock:
    """The event clock ``backend``'s kernels are timed with (its backend object's)."""
    from impls import backends

    clock = backends.get(backend).event_clock()
    if clock is None:
        raise KeyError(f"backend {backend!r} has no device clock (it runs on the CPU only)")
    return clock


class CudaDevice(GpuDevice):
    """The current CUDA device, queried through torch.cuda (``via="torch"``)
    or cupy.cuda.runtime (``via="cupy"``); the flush and the probes use the
    same library."""

    def __init__(self, via: str):
        if via not in ("torch", "cupy"):
            raise ValueError(f"via must be 'torch' or 'cupy'; got {via!r}")
        self.via = via
        self._flush = None
        self._info = None

    def _index(self) -> int:
        if self.via == "torch":
            import torch

            return torch.cuda.current_device()
        import cupy

        return cupy.cuda.runtime.getDevice()

    def _count(self) -> int:
        if self.via == "torch":
            import torch

            return torch.cuda.device_count()
        import cupy

        return cupy.cuda.runtime.getDeviceCount()

    def _describe(self, index: int) -> dict:
        if self.via == "torch":
            import torch

            props = torch.cuda.get_device_properties(index)
            found = {
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "sms": props.multi_processor_count,
                "memory_bytes": props.total_memory,
                "l2_bytes": getattr(props, "L2_cache_size", None),
                "memory_bus_bits": getattr(props, "memory_bus_width", None),
                "memory_clock_khz": getattr(props, "memory_clock_rate", None),
                "cuda_runtime": torch.version.cuda,
            }
        else:
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(index)
            name = props.get("name", b"")
            found = {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "capability": f"{props['major']}.{props['minor']}",
                "sms": props.get("multiProcessorCount"),
                "memory_bytes": props.get("totalGlobalMem"),
                "l2_bytes": props.get("l2CacheSize"),
                "memory_bus_bits": props.get("memoryBusWidth"),
                "memory_clock_khz": props.get("memoryClockRate"),  # gone from CUDA 13's properties
                "cuda_runtime": cuda_version_text(cupy.cuda.runtime.runtimeGetVersion()),
            }
        return {
            "index": index,
            **found,
            "driver": nvidia_driver_version(),
            "driver_cuda": driver_cuda_version(),
            "queried_via": self.via,
        }

    def info(self) -> dict:
        if self._info is None:
            self._info = self._describe(self._index())
        return self._info

    def all_info(self) -> list[dict]:
        current = self._index()
        return [{**self._describe(i), "current": i == current} for i in range(self._count())]

    def clock(self, backend: str) -> DeviceClock:
        return clock_for(backend)

    def probe_clock(self) -> DeviceClock:
        return clock_for(self.via)

    def synchronize(self) -> None:
        if self.via == "torch":
            import torch

            torch.cuda.synchronize()
        else:
            import cupy

            cupy.cuda.runtime.deviceSynchronize()

    def l2_flusher(self) -> Callable[[], None]:
        if self._flush is None:
            words = self.flush_bytes() // 4
            if self.via == "torch":
                import torch

                buffer = torch.empty(words, dtype=torch.int32, device="cuda")
                self._flush = buffer.zero_
            else:
                import cupy

                buffer = cupy.empty(words, dtype=cupy.int32)
                self._flush = functools.partial(buffer.fill, 0)
        return self._flush

    @contextlib.contextmanager
    def fp32_gemm(self, n: int):
        if self.via == "torch":
            import torch

            # "highest": float32 matmuls in full float32, never TF32 (whatever the user's setting).
            previous = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")
            try:
                a, b = torch.rand(n, n, device="cuda"), torch.rand(n, n, device="cuda")
                out = torch.empty(n, n, device="cuda")
                yield functools.partial(torch.mm, a, b, out=out)
            finally:
                torch.set_float32_matmul_precision(previous)
        else:
            import cupy

            if os.environ.get("CUPY_TF32", "0") != "0":
                raise RuntimeError("CUPY_TF32 is set: cupy's float32 GEMM would use TF32; unset it for the probe")
            a, b = cupy.random.rand(n, n, dtype=cupy.float32), cupy.random.rand(n, n, dtype=cupy.float32)
            out = cupy.empty((n, n), dtype=cupy.float32)
            yield functools.partial(cupy.matmul, a, b, out=out)

    @contextlib.contextmanager
    def device_copy(self, nbytes: int):
        if self.via == "torch":
            import torch

            source = torch.ones(nbytes // 4, dtype=torch.float32, device="cuda")
            target = torch.empty_like(source)
            yield functools.partial(target.copy_, source)
        else:
            import cupy

            source = cupy.ones(nbytes // 4, dtype=cupy.float32)
            target = cupy.empty_like(source)
            yield functools.partial(cupy.copyto, target, source)


def cuda_version_text(version: int | None) -> str | None:
    """CUDA's integer version (12040) as text ("12.4")."""
    if not version:
        return None
    return f"{version // 1000}.{version % 1000 // 10}"


def driver_cuda_version() -> str | None:
    """The newest CUDA version the installed driver supports (cuDriverGetVersion)."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
        return cuda_version_text(version.value)
    except (OSError, AttributeError):
        return None


def parse_nvidia_driver_version(text: str) -> str | None:
    """The kernel module's version from /proc/driver/nvidia/version."""
    found = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return found.group(1) if found else None


def nvidia_driver_version() -> str | None:
    try:
        return parse_nvidia_driver_version(Path("/proc/driver/nvidia/version").read_text())
    except OSError:
        return None


# -- which device ------------------------------------------------------------------
_installed: GpuDevice | None = None


@functools.cache
def _detect() -> GpuDevice | None:
    try:
        import torch

        if torch.cuda.is_available():
            return CudaDevice("torch")
    except Exception:  # a broken torch install: try cupy
        pass
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return CudaDevice("cupy")
    except Exception:  # no cupy, no driver, no device
        pass
    return None


def current() -> GpuDevice | None:
    """The device CUDA implementations run on (an installed stand-in first), or None."""
    return _installed if _installed is not None else _detect()


@contextlib.contextmanager
def installed(device: GpuDevice) -> Iterator[GpuDevice]:
    """Make ``device`` what :func:`current` returns while the context lasts
    (for tests: a CPU-backed stand-in)."""
    global _installed
    previous, _installed = _installed, device
    try:
        yield device
    finally:
        _installed = previous


def kernel_timer(backend: str, fn: Callable[[], object], sync: Callable[[], None], l2_flush: bool = True):
    """(timed_calls for ``timer.measure``, a description of the method) for a
    CUDA implementation of ``backend``; (None, ...) where no device object is
    found (the wall clock around calls and a synchronisation then measures)."""
    device = current()
    if device is None:
        return None, "wall clock, synchronised (no CUDA device object found)"
    clock = device.clock(backend)
    flush = device.l2_flusher() if l2_flush else None
    if flush is None:
        flushed = "L2 not flushed"
    else:
        flushed = f"L2 flushed before each call ({device.flush_bytes() / 2**20:.0f} MiB written)"
    return event_timed_calls(fn, clock, flush, sync), f"{clock.name} per call; {flushed}"
