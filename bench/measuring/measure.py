"""Measuring one cell (op, implementation, device, case, dtype): the first
call, the check against the reference, the timing, the check on the next
seed's inputs, the copies to and from a GPU -- one piece of code for every
place a cell is measured: the runner's process (``--in-process``), a worker
process (``bench.measuring.worker``) and the headline's rounds.

``CellMeasurer`` holds the settings every measurement follows and what each
implementation did on the smaller cases of a family (to skip or predict its
larger ones).  It knows ops and backends only through the registry.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import traceback
from collections.abc import Callable

from bench.measuring import gpu, timer
from bench.measuring.cell import Measurement, MeasureSettings, machine_name


class BudgetExceeded(Exception):
    pass


def call_with_budget(fn: Callable[[], object], seconds: float):
    """Call ``fn``; in the main thread, interrupt Python-level code that runs
    past ``seconds`` (native code is interrupted when it returns)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        return fn()

    def on_alarm(signum, frame):
        raise BudgetExceeded(f"stopped after {seconds:g} s, the time budget")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_and_wait(impl, native):
    """One call of the implementation, returned once its device has finished it."""
    output = impl.call(native)
    impl.synchronize()
    return output


def timed_round(impl, native, number: int) -> float:
    """One round of the headline: ``number`` calls, then the wait for the device; seconds per call."""
    start = timer.CLOCK()
    for _ in range(number):
        impl.call(native)
    impl.synchronize()
    return (timer.CLOCK() - start) / number


def case_costs(data: dict) -> dict:
    """A measurement's cost-model fields, from the case's data."""
    costs = {"flops": data["flops"], "bytes": data["bytes"]}
    if data["throughput"]:
        costs.update(throughput_items=data["throughput"][0], throughput_unit=data["throughput"][1])
    return costs


def error_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


@dataclasses.dataclass
class Progress:
    """What an implementation did on the cases of one family so far: used to
    skip or predict its larger cases."""

    points: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (size, median seconds)
    over_budget: str | None = None  # why it went over

    def predict(self, size: float) -> float | None:
        """Seconds at ``size``, extrapolated along the power law through the
        last two points (exponent clamped to [1, 3]), or linearly from one.
        None below 1 ms: there fixed per-call overhead dominates, and scaling
        it with the problem size would predict a fast call to be slow."""
        if not self.points or self.points[-1][1] < 1e-3:
            return None
        (s1, t1), (s2, t2) = self.points[-2] if len(self.points) > 1 else self.points[-1], self.points[-1]
        exponent = 1.0
        if s2 > s1 > 0 and t1 > 0 and t2 > 0:
            exponent = min(max(math.log(t2 / t1) / math.log(s2 / s1), 1.0), 3.0)
        return t2 * (size / s2) ** exponent if s2 > 0 else None


def case_inputs(spec, case, dtype: str, seed: int) -> dict:
    """A case's validated inputs: the same arrays in every process for the same seed."""
    return spec.validate(**spec.make_inputs(case, dtype, seed))


def base_row(spec, case, dtype, impl) -> dict:
    return {
        "op": spec.name,
        "impl": impl.name,
        "backend": impl.backend,
        "device": impl.device,
        "case": case.name,
        "family": case.family,
        "params": case.params,
        "dtype": dtype,
        "size": case.size,
        "machine": machine_name(),
    }


def failed_row(row: dict, status: str, error: str) -> dict:
    """``row`` turned into a failure: every time but the first call's dropped,
    so that no table can show it as a result."""
    timing = {"times", "rounds", "number"}
    return {
        **{k: v for k, v in row.items() if k not in timing and not (k.endswith("_s") and k != "first_call_s")},
        "status": status,
        "error": error,
    }


class CellMeasurer:
    def __init__(self, settings: MeasureSettings):
        self.settings = settings
        # (op, implementation key, family) -> what it did on that family so far.
        self.history: dict[tuple, Progress] = {}

    def seed_history(self, rows: list[dict]) -> None:
        """Rebuild what implementations did on smaller cases from stored rows
        (a resumed run): the larger cases are then skipped or predicted as
        they would have been."""
        for row in sorted(rows, key=lambda r: (r["size"] is None, r["size"] or 0)):
            key = (row["op"], f"{row['op']}/{row['impl']}/{row['device']}", row["family"])
            history = self.history.setdefault(key, Progress())
            if row["status"] == "ok" and row.get("median_s") is not None and row.get("size") is not None:
                history.points.append((row["size"], row["median_s"]))
            elif row["status"] in ("over_budget", "timeout") and not history.over_budget:
                history.over_budget = f"{row['case']}: {row['status'].replace('_', ' ')} in the interrupted run"

    def measure_checked(self, spec, case, dtype, impl, data, extra: Callable[[], dict | Exception]) -> Measurement:
        """``measure``, then the output checked once more on the next seed's inputs."""
        row = self._measure(spec, case, dtype, impl, data)
        if row["status"] == "ok":
            row = self.check_another_seed(spec, case, dtype, impl, extra(), row)
        return Measurement.from_row(row)

    def check_another_seed(self, spec, case, dtype, impl, data, row) -> dict:
        """One more call, on the case's inputs made from seed + 1, checked
        against their reference: an implementation right on one input by
        luck (or by special-casing it) is caught. A wrong answer here makes
        the cell a mismatch and drops its times."""
        if row["status"] != "ok":
            return row
        seed = self.settings.seed + 1
        if isinstance(data, Exception):
            return failed_row(row, "error", f"making the case with seed {seed} failed: {error_text(data)}")
        try:
            native = impl.prepare(data["inputs"])
            output = call_with_budget(lambda: call_and_wait(impl, native), self.settings.budget)
        except BudgetExceeded as exc:
            history = self.history.setdefault((spec.name, impl.key, case.family), Progress())
            history.over_budget = f"{case.name}: seed {seed}: {exc}"
            return failed_row(row, "over_budget", f"seed {seed}: {exc}")
        except Exception as exc:
            return failed_row(row, "error", f"on the inputs of seed {seed}: {error_text(exc)}")
        try:
            verdict = spec.compare(impl.to_numpy(output, data["inputs"]), data["reference"], data["inputs"])
        except Exception as exc:
            return failed_row(row, "error", f"checking the output of seed {seed} failed: {error_text(exc)}")
        if not verdict.ok:
            failed = failed_row(row, "mismatch", f"seed {seed}: {verdict.message}")
            failed.update(max_abs_err=verdict.max_abs_err, max_rel_err=verdict.max_rel_err, rms_err=verdict.rms_err)
            return failed
        return row

    def calls_code(self, spec, case, dtype, impl, data) -> bool:
        """Whether ``_measure`` would run the implementation on this cell.
        Its other outcomes (unavailable, unsupported dtype, a case that could
        not be made, skipped or predicted over budget) are decided here from
        the parent's records, without a worker."""
        if not impl.available or not impl.supports(dtype) or not data or isinstance(data, Exception):
            return False
        history = self.history.get((spec.name, impl.key, case.family))
        if history is None:
            return True
        predicted = history.predict(case.size)
        return not history.over_budget and not (predicted is not None and predicted > self.settings.budget)

    def measure(self, spec, case, dtype, impl, data) -> Measurement:
        """The first call, the check against the reference and the timing (no second seed)."""
        return Measurement.from_row(self._measure(spec, case, dtype, impl, data))

    def contend(self, spec, case, dtype, impl, data, extra: Callable[[], dict | Exception]) -> tuple[dict, dict | None]:
        """The first call and both checks, without the timing: (row, the
        prepared inputs to time calls on, or None when the cell failed). The
        headline times its contenders itself, in interleaved rounds."""
        row, called = self._first_call(spec, case, dtype, impl, data)
        if called is None:
            return row, None
        row = self.check_another_seed(spec, case, dtype, impl, extra(), row)
        return row, (called[0] if row["status"] == "ok" else None)

    def _measure(self, spec, case, dtype, impl, data) -> dict:
        row, called = self._first_call(spec, case, dtype, impl, data)
        if called is None:
            return row
        native, output, first_call = called
        budget = self.settings.budget
        history = self.history[(spec.name, impl.key, case.family)]
        # A call slower than the minimum measuring time is warm after its first
        # call: no further warm-up, one call per round.
        slow = first_call >= self.settings.min_time

        def call():
            return impl.call(native)

        timed_calls, timing = None, "wall clock (perf_counter)"
        try:
            if impl.device == "cuda":
                timed_calls, timing = gpu.kernel_timer(impl.backend, call, impl.synchronize, self.settings.l2_flush)
                if slow:
                    # A CUDA first call often holds a JIT or NVRTC compile: judge by a warm call.
                    start = timer.CLOCK()
                    call()
                    impl.synchronize()
                    slow = timer.CLOCK() - start >= self.settings.min_time
            stats = timer.measure(
                call,
                sync=impl.synchronize,
                min_time=self.settings.min_time,
                max_time=max(budget - first_call, self.settings.min_time),
                warmup_time=0.0 if slow else min(0.05, self.settings.min_time / 4),
                number=1 if slow else None,
                timed_calls=timed_calls,
            )
        except Exception as exc:  # an implementation that fails only on a later call
            return {**row, "status": "error", "error": f"failed while timing: {error_text(exc)}"}
        history.points.append((case.size, stats.median))
        result = {
            **row,
            **stats.summary(),
            "times": stats.times,
            "timing": timing,
        }
        if impl.device == "cuda":
            try:
                # Straight on the implementation where it is watched (a worker's
                # notes to its parent): only the copies are timed.
                result.update(self.transfers(getattr(impl, "unwatched", impl), data["inputs"], output))
            except Exception as exc:  # the kernel's figure stands; the transfers are missing, and say why
                note = f"timing the transfers failed: {error_text(exc)}"
                result["error"] = f"{result['error']}; {note}" if result["error"] else note
        return result

    def _first_call(self, spec, case, dtype, impl, data) -> tuple[dict, tuple | None]:
        """Inputs, the first call and the check against the reference: (row,
        (native inputs, output, first call's seconds)); (failed row, None)."""
        row = base_row(spec, case, dtype, impl)
        if not impl.available:
            return {**row, "status": "unavailable", "error": impl.reason}, None
        if not impl.supports(dtype):
            return {**row, "status": "unavailable", "error": f"{impl.name} does not support {dtype}"}, None
        if isinstance(data, Exception):
            return {**row, "status": "error", "error": f"making the case failed: {error_text(data)}"}, None
        row.update(case_costs(data), work_flops=impl.work_flops(data["inputs"]))

        history = self.history.setdefault((spec.name, impl.key, case.family), Progress())
        budget = self.settings.budget
        if history.over_budget:
            return {**row, "status": "over_budget", "error": f"skipped: {history.over_budget}"}, None
        predicted = history.predict(case.size)
        if predicted is not None and predicted > budget:
            history.over_budget = (
                f"{case.name}: predicted {predicted:.3g} s from the smaller cases; budget {budget:g} s"
            )
            return {**row, "status": "over_budget", "error": history.over_budget}, None

        try:
            native = impl.prepare(data["inputs"])
            start = timer.CLOCK()
            output = call_with_budget(lambda: call_and_wait(impl, native), budget)
            first_call = timer.CLOCK() - start
        except BudgetExceeded as exc:
            history.over_budget = f"{case.name}: {exc}"
            return {**row, "status": "over_budget", "error": str(exc), "first_call_s": budget}, None
        except Exception as exc:
            return {**row, "status": "error", "error": error_text(exc)}, None
        row["first_call_s"] = first_call

        try:
            verdict = spec.compare(impl.to_numpy(output, data["inputs"]), data["reference"], data["inputs"])
        except Exception as exc:
            return {**row, "status": "error", "error": f"checking the output failed: {error_text(exc)}"}, None
        row.update(max_abs_err=verdict.max_abs_err, max_rel_err=verdict.max_rel_err, rms_err=verdict.rms_err)
        if not verdict.ok:
            return {**row, "status": "mismatch", "error": verdict.message}, None

        if first_call > budget:
            history.over_budget = f"{case.name}: first call took {first_call:.3g} s; budget {budget:g} s"
            return {**row, "status": "over_budget", "error": history.over_budget}, None
        return {**row, "status": "ok", "error": verdict.message or None}, (native, output, first_call)

    def transfers(self, impl, inputs: dict, output) -> dict:
        """Host-to-device copy of the inputs (``prepare``) and device-to-host
        copy of the output (``to_numpy``), each timed on its own by the wall
        clock with a synchronisation, outside the kernel's timed region: a
        caller holding NumPy arrays pays kernel + h2d + d2h.  Their first
        calls (context creation, allocator growth) were made already."""
        settings = {
            "min_time": min(self.settings.min_time, 0.05),
            "max_time": max(self.settings.min_time, 1.0),
            "warmup_time": 0.0,
            "number": 1,
            "min_rounds": 3,
        }
        impl.synchronize()
        h2d = timer.measure(lambda: impl.prepare(inputs), sync=impl.synchronize, **settings)
        d2h = timer.measure(lambda: impl.to_numpy(output, inputs), sync=impl.synchronize, **settings)
        return {"h2d_s": h2d.median, "d2h_s": d2h.median}
