"""What a run was measured on: the machine, library versions, thread settings.

Thread counts are fixed for every library that spawns threads (torch intra-op,
Numba's parallel loops, BLAS/OpenMP through threadpoolctl) so they do not fight
over the cores, and recorded with the run.
"""

from __future__ import annotations

import importlib
import os
import platform
import socket
import subprocess
from pathlib import Path

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def preset_thread_env(threads: int) -> None:
    """Set the thread variables that libraries read only when first imported,
    and pin the allocator (pin_allocator); call before importing
    numba/torch/numpy's BLAS."""
    for name in _THREAD_ENV:
        os.environ[name] = str(threads)
    # Torch, Numba and the extension each load an OpenMP runtime with its own
    # thread pool. Active waiting (the default) leaves one pool's threads
    # spinning after its parallel region while the next implementation's pool
    # wants the same cores: measured here, small calls then took a 12 ms
    # scheduler slice instead of 15 us. Passive waiting puts idle threads to
    # sleep at once; a user's explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS (NumPy's BLAS) has its own pool, which spins ~0.1 s after each
    # call: measured here, ext's and torch's conv2d ran 2x slower right after a
    # NumPy GEMM until it stopped. 2^4 cycles is OpenBLAS's shortest wait.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    pin_allocator()


# glibc's malloc gives each block of 128 KiB or more its own mmap, and once
# such a block is freed it raises that threshold to the block's size (up to
# 32 MiB) and trims the heap's top past twice it. So whether a call's large
# temporaries and output came from memory already touched, or were mapped and
# page-faulted in afresh (first touch runs at ~3.5 GB/s here), depended on
# what had run before it in the process: torch's ResNeXt conv2d measured 9 ms
# in one headline run and 28 ms in the next, with the same build. Both
# thresholds are pinned for every implementation alike -- the state a
# process that repeats its calls settles in -- and recorded with the run; a
# user's MALLOC_* setting wins. Blocks over 32 MiB still get their own mmap.
_ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1}  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


def pin_allocator() -> None:
    """Pin glibc's mmap and trim thresholds in this process (read from the
    environment only at start-up, so set through mallopt) and in the
    processes it starts (through the environment)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to pin, and nothing recorded as pinned
        return
    for name, value in _ALLOCATOR_ENV.items():
        if name in os.environ:
            continue  # the user's, already read by this process's malloc at start-up
        os.environ[name] = value
        mallopt(_MALLOPT[name], int(value))


def configure_threads(threads: int) -> dict:
    """Fix every thread pool to ``threads`` and return what each reports."""
    import numba
    import threadpoolctl
    import torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    global _LIMITER
    _LIMITER = threadpoolctl.threadpool_limits(threads)  # kept alive: the limit lasts while it does
    return thread_settings()


_LIMITER = None


def thread_settings() -> dict:
    import numba
    import threadpoolctl
    import torch

    pools = {
        f"{info['internal_api']}:{Path(info['filepath']).name}": info["num_threads"]
        for info in threadpoolctl.threadpool_info()
    }
    return {
        "torch": torch.get_num_threads(),
        "torch_interop": torch.get_num_interop_threads(),
        "numba": numba.get_num_threads(),
        "numba_layer": numba.threading_layer() if _numba_layer_known() else "not yet chosen",
        "native_pools": pools,
        "env": {
            name: os.environ.get(name)
            for name in (*_THREAD_ENV, "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", *_ALLOCATOR_ENV)
        },
    }


def _numba_layer_known() -> bool:
    import numba

    try:
        numba.threading_layer()
        return True
    except ValueError:  # no parallel function has run yet
        return False


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine_info() -> dict:
    info = {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "os": platform.platform(),
        "arch": platform.machine(),
        "gpus": gpu_info(),
    }
    return info


def gpu_info() -> list[dict]:
    """CUDA devices this machine has (empty on a CPU-only machine): name,
    compute capability, SMs, memory, L2, driver and CUDA runtime versions;
    the one CUDA implementations run on is marked ``current``."""
    from bench.measuring import gpu

    try:
        device = gpu.current()
        return device.all_info() if device is not None else []
    except Exception as exc:  # a broken driver should not stop a CPU run
        return [{"error": f"{type(exc).__name__}: {exc}"}]


def versions() -> dict:
    found = {"python": platform.python_version()}
    for module in ("numpy", "numba", "torch", "torchvision", "cupy", "pandas", "matplotlib"):
        try:
            found[module] = importlib.import_module(module).__version__
        except Exception:
            found[module] = None
    return found


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]  # the checkout: bench/measuring/ -> bench/ -> root
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("-dirty" if dirty else "")) if commit else None
