"""The machine's practical limits, measured with the run's thread settings:
dense float32 GEMM GFLOP/s, memory bandwidth GB/s (STREAM-like copy and
triad on arrays far larger than the last-level cache), the same on arrays
that fit the last-level cache, and the harness's own overhead per timed
call.  Reports divide every measurement by these: an op whose data fits half
the last-level cache stays there between calls, so its roof is the cache's
bandwidth, not DRAM's (LSTM B1's 2 MB of weights read "128 %" of DRAM's).
On a machine with a CUDA device, the device's float32 GEMM rate (TF32 off)
and device-memory copy bandwidth are measured as well, stored under "gpu",
and CUDA measurements are divided by those.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.measuring import timer

# Square float32 GEMMs: 2 n^3 FLOP each, long enough to amortise threading.
GEMM_SIZES = (2048, 3072)
STREAM_BYTES = 256 * 2**20  # per array: 8x a 32 MiB L3, so every pass streams from DRAM


def gemm_engines(sizes=GEMM_SIZES) -> dict:
    """The GEMMs torch offers on the CPU, each as a zero-argument call per
    size: MKL/OpenBLAS through torch.mm, and oneDNN's matmul (the operator
    torch.compile emits for linear layers), where this torch has it.  On AMD
    CPUs MKL takes a slower code path than oneDNN, so the practical limit is
    the best of the two: a kernel of ours must not look like it beats the
    machine because the yardstick was one library's GEMM."""
    import torch

    engines = {}
    onednn = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    for n in sizes:
        a, b = torch.rand(n, n), torch.rand(n, n)
        out = torch.empty(n, n)
        engines[f"mm_{n}"] = (n, lambda a=a, b=b, out=out: torch.mm(a, b, out=out))
        if onednn is not None and torch.backends.mkldnn.is_available():
            bt = b.t().contiguous()
            engines[f"onednn_{n}"] = (n, lambda a=a, bt=bt: onednn(a, bt, None, "none", [], None))
    return engines


def gemm_gflops(min_time: float = 0.5) -> dict:
    """Best GFLOP/s of each GEMM engine and size; ``best`` is the peak."""
    rates = {}
    for name, (n, call) in gemm_engines().items():
        try:
            stats = timer.measure(call, min_time=min_time / 2, min_rounds=3)
        except RuntimeError:  # an engine this build or CPU cannot run
            continue
        rates[name] = 2.0 * n**3 / stats.min / 1e9
    return {"best": max(rates.values()), **rates}


def stream_probes(array_bytes: int = STREAM_BYTES) -> dict:
    """Copy (read a, write b: 2 arrays moved) and triad (a = b + s*c: 3
    arrays moved), through torch so the run's thread count applies, each as
    (call, bytes one call moves).  Arrays are written here, before any
    timing, so page faults are not counted."""
    import torch

    n = array_bytes // 4
    a, b, c = (torch.ones(n) for _ in range(3))
    return {
        "copy": (lambda: b.copy_(a), 2 * array_bytes),
        "triad": (lambda: torch.add(b, c, alpha=3.0, out=a), 3 * array_bytes),
    }


def stream_gbps(min_time: float = 0.5, array_bytes: int = STREAM_BYTES) -> dict:
    """Best GB/s of copy and triad on arrays of ``array_bytes``."""
    rates = {}
    for name, (call, moved) in stream_probes(array_bytes).items():
        rates[name] = moved / timer.measure(call, min_time=min_time, min_rounds=3).min / 1e9
    return rates


def last_level_cache_bytes() -> int | None:
    """The size of CPU 0's highest-level cache (Linux sysfs), or None."""
    sizes = {}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(size[-1:], 1)
        if size.rstrip("KMG").isdigit():
            sizes[level] = int(size.rstrip("KMG")) * scale
    return sizes[max(sizes)] if sizes else None


def harness_overhead_s() -> float:
    """Median per-call time the harness reports for an implementation that
    does nothing, timed exactly as the runner times one (a registered-style
    Implementation called on prepared inputs, then synchronised): the floor
    under every figure."""
    import numpy as np

    from impls.registry import Implementation

    def empty(boxes1, boxes2):
        return None

    impl = Implementation(op="box_iou", backend="numpy", device="cpu", name="empty", fn=empty)
    native = impl.prepare({"boxes1": np.zeros((1, 4), np.float32), "boxes2": np.zeros((1, 4), np.float32)})
    return timer.measure(lambda: impl.call(native), sync=impl.synchronize, min_time=0.2).median


def measure_peaks(min_time: float = 0.5) -> dict:
    started = time.monotonic()
    stream = stream_gbps(min_time)
    gemm = gemm_gflops(min_time)
    llc = last_level_cache_bytes()
    # Three arrays of an eighth of the cache each: resident in it, and on this
    # machine (32 MiB L3, 1 MiB L2 per core) far larger than the L2s.
    cache = stream_gbps(min_time / 2, llc // 8) if llc else None
    peaks = {
        "gemm_gflops": gemm["best"],
        "gemm_engines_gflops": {k: v for k, v in gemm.items() if k != "best"},
        "bandwidth_gbps": max(stream.values()),
        "stream_copy_gbps": stream["copy"],
        "stream_triad_gbps": stream["triad"],
        "harness_overhead_s": harness_overhead_s(),
    }
    if cache:
        peaks.update(llc_bytes=llc, cache_bandwidth_gbps=max(cache.values()), cache_copy_gbps=cache["copy"],
                     cache_triad_gbps=cache["triad"])
    peaks["measured_in_s"] = time.monotonic() - started
    return peaks


def fraction_of_peak(flops, nbytes, seconds, peaks, flops_are_work: bool = True):
    """Achieved rate over the roofline's attainable rate at this arithmetic
    intensity: min(GEMM peak, intensity x bandwidth).  Returns (fraction,
    "compute", "memory" or "cache") or (None, None) without a cost model or
    peaks.  The bandwidth is the last-level cache's where the bytes fit half
    of it (they stay there between calls; peaks measured before this had no
    cache figure and use DRAM's).  Where the FLOP count is only a yardstick,
    bandwidth alone is the limit."""
    if not peaks or not seconds or not nbytes:
        return None, None
    in_cache = bool(peaks.get("cache_bandwidth_gbps")) and nbytes <= (peaks.get("llc_bytes") or 0) / 2
    bandwidth, memory = (peaks["cache_bandwidth_gbps"], "cache") if in_cache else (peaks["bandwidth_gbps"], "memory")
    if not flops_are_work or not flops:
        return (nbytes / seconds) / (bandwidth * 1e9), memory
    intensity = flops / nbytes
    peak_flops = peaks["gemm_gflops"] * 1e9
    memory_flops = intensity * bandwidth * 1e9
    bound = "compute" if peak_flops <= memory_flops else memory
    return (flops / seconds) / min(peak_flops, memory_flops), bound


def roof_probe(bound: str, peaks: dict) -> tuple:
    """The probe of the roof that bounds a case, to be timed in the same
    rounds as the case's implementations: (call, the work one call does in
    the roof's unit -- GFLOP for "compute", GB for "memory" and "cache" --,
    the peaks' key it stands for): the same yardstick as ``peaks``, the
    GEMM engine and size that measured best, the faster of copy and triad."""
    if bound == "compute":
        engines = peaks["gemm_engines_gflops"]
        name = max(engines, key=engines.get)
        n = int(name.rsplit("_", 1)[1])
        _, call = gemm_engines((n,))[name]
        return call, 2.0 * n**3 / 1e9, "gemm_gflops"
    array_bytes = peaks["llc_bytes"] // 8 if bound == "cache" else STREAM_BYTES
    prefix = "cache" if bound == "cache" else "stream"
    rates = {k: peaks.get(f"{prefix}_{k}_gbps") or 0.0 for k in ("copy", "triad")}
    call, moved = stream_probes(array_bytes)[max(rates, key=rates.get)]
    return call, moved / 1e9, "cache_bandwidth_gbps" if bound == "cache" else "bandwidth_gbps"


# -- the GPU's peaks (through bench.measuring.gpu's device object) ------------------------------
GPU_GEMM_N = 8192  # 2 x 8192^3 = 1.1 TFLOP: ~20 ms on an H100's float32 (non-tensor-core) units
GPU_COPY_BYTES = 2**30  # per buffer: 20x a 50 MB L2, so the copy streams from device memory


def gpu_gemm_gflops(device, min_time: float = 0.5, n: int = GPU_GEMM_N) -> float:
    """Dense float32 GEMM on the device, TF32 off, timed by device events."""
    from bench.measuring import gpu

    with device.fp32_gemm(n) as call:
        call()  # the first call picks the GEMM kernel (cuBLAS heuristics, handle creation)
        device.synchronize()
        timed = gpu.event_timed_calls(call, device.probe_clock(), sync=device.synchronize)
        stats = timer.measure(call, sync=device.synchronize, min_time=min_time, min_rounds=3, timed_calls=timed)
    return 2.0 * n**3 / stats.min / 1e9


def gpu_copy_gbps(device, min_time: float = 0.5, nbytes: int | None = None) -> float:
    """Device-memory bandwidth: a device-to-device copy (read + write) of a
    buffer far larger than the L2, timed by device events.  At most an
    eighth of the device's memory per buffer."""
    from bench.measuring import gpu

    if nbytes is None:
        memory = device.info().get("memory_bytes") or 0
        nbytes = min(GPU_COPY_BYTES, memory // 8) if memory else GPU_COPY_BYTES
    with device.device_copy(nbytes) as call:
        call()
        device.synchronize()
        timed = gpu.event_timed_calls(call, device.probe_clock(), sync=device.synchronize)
        stats = timer.measure(call, sync=device.synchronize, min_time=min_time, min_rounds=3, timed_calls=timed)
    return 2 * nbytes / stats.min / 1e9


def measure_gpu_peaks(
    min_time: float = 0.5, device=None, gemm_n: int = GPU_GEMM_N, copy_bytes: int | None = None
) -> dict | None:
    """The current CUDA device's GEMM and bandwidth peaks, under the same
    keys as the CPU's (so fraction_of_peak reads either), with the device's
    name; None where there is no device."""
    from bench.measuring import gpu

    device = device if device is not None else gpu.current()
    if device is None:
        return None
    started = time.monotonic()
    peaks = {
        "device": device.info().get("name"),
        "gemm_gflops": gpu_gemm_gflops(device, min_time, gemm_n),
        "bandwidth_gbps": gpu_copy_gbps(device, min_time, copy_bytes),
        "gemm": "float32, TF32 off",
    }
    peaks["measured_in_s"] = time.monotonic() - started
    return peaks


def measure_all_peaks(min_time: float = 0.5) -> dict:
    """The CPU's peaks, and under "gpu" the CUDA device's where there is one."""
    peaks = measure_peaks(min_time)
    gpu_peaks = measure_gpu_peaks(min_time)
    if gpu_peaks:
        peaks["gpu"] = gpu_peaks
    return peaks


def peaks_for(run_peaks: dict | None, device: str) -> dict | None:
    """The peaks a measurement on ``device`` is divided by: the GPU's for
    cuda (None if the run measured none), the CPU's otherwise."""
    if not run_peaks:
        return None
    return run_peaks.get("gpu") if device == "cuda" else run_peaks
