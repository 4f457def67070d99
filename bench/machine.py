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
    """Set the thread variables that libraries read only when first imported;
    call before importing numba/torch/numpy's BLAS."""
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
        "env": {name: os.environ.get(name) for name in (*_THREAD_ENV, "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")},
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
    from bench import gpu

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
    root = Path(__file__).resolve().parent.parent
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
