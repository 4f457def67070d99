"""The runner: for every selected op, case and dtype, make the inputs once,
compute the reference once, then check and time every selected
implementation, storing each result as it completes.

By default each implementation runs in a worker process of its own
(``bench.worker``): the worker makes the case's inputs itself from the same
seed, and runs the same measuring code (``Runner._measure``) on them, so a
crash, a hang in native code or a poisoned CUDA context costs that
implementation its cell, not the run.  ``RunConfig.in_process`` runs
everything here instead, for debugging.

It knows ops and backends only through the registry (``impls``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import statistics
import threading
import traceback
from collections.abc import Callable

import impls
from bench import gpu, timer
from bench.store import Store


@dataclasses.dataclass
class RunConfig:
    ops: list[str] | None = None  # None: every op
    backends: list[str] | None = None
    devices: list[str] | None = None
    names: list[str] | None = None  # implementation names
    dtypes: tuple[str, ...] = ("float32",)
    quick: bool = False  # only the small cases, shorter measuring
    budget: float = 10.0  # seconds one measurement may take before it is stopped
    min_time: float = 0.2
    seed: int = 0
    l2_flush: bool = True  # CUDA: evict the L2 before each timed call
    # Run implementations here rather than in worker processes (debugging;
    # a crash or a hang then takes the run down).
    in_process: bool = False
    # The thread count workers apply (None: leave them as they are). Workers are
    # forked from a server that inherits this process's environment: call
    # machine.preset_thread_env(threads) before importing torch, as the CLI does,
    # so that variables read at library load (OMP_WAIT_POLICY) match too.
    threads: int | None = None
    plugins: tuple[str, ...] = ()  # plugin files workers load, as the parent did

    def cases(self, spec: impls.OpSpec) -> list[impls.Case]:
        cases = [c for c in spec.cases if c.small or not self.quick]
        # By family, then size: an implementation that goes over budget skips
        # the larger cases of the same family only.
        return sorted(cases, key=lambda c: (c.family, c.size))

    def implementations(self, op: str) -> list[impls.Implementation]:
        return [
            impl
            for impl in impls.implementations(op=op)
            if (not self.backends or impl.backend in self.backends)
            and (not self.devices or impl.device in self.devices)
            and (not self.names or impl.name in self.names)
        ]

    def selected_ops(self) -> list[str]:
        known = impls.ops()
        for op in self.ops or ():
            if op not in known:
                raise KeyError(f"unknown op {op!r}; known ops: {', '.join(known)}")
        return [op for op in known if not self.ops or op in self.ops]


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


def _error_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


@dataclasses.dataclass
class _Progress:
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


def _base_row(spec, case, dtype, impl) -> dict:
    return {
        "op": spec.name,
        "impl": impl.name,
        "backend": impl.backend,
        "device": impl.device,
        "case_name": case.name,
        "family": case.family,
        "params": case.params,
        "dtype": dtype,
        "size": case.size,
    }


def _failed(row: dict, status: str, error: str) -> dict:
    """``row`` turned into a failure: every time but the first call's dropped,
    so that no table can show it as a result."""
    timing = {"times", "rounds", "number"}
    return {
        **{k: v for k, v in row.items() if k not in timing and not (k.endswith("_s") and k != "first_call_s")},
        "status": status,
        "error": error,
    }


class Runner:
    def __init__(
        self, store: Store, run_id: str, config: RunConfig, on_result: Callable[[dict, int, int], None] | None = None
    ):
        self.store = store
        self.run_id = run_id
        self.config = config
        self.on_result = on_result or (lambda row, done, total: None)
        self._history: dict[tuple, _Progress] = {}
        self.worker_startups: list[tuple[str, float]] = []  # (implementation, seconds), kept out of the store

    def plan(self) -> list[tuple[impls.OpSpec, impls.Case, str, list[impls.Implementation]]]:
        plan = []
        for op in self.config.selected_ops():
            spec = impls.spec(op)
            chosen = self.config.implementations(op)
            if not chosen:
                continue
            for case in self.config.cases(spec):
                for dtype in self.config.dtypes:
                    if dtype in spec.dtypes:
                        plan.append((spec, case, dtype, chosen))
        return plan

    def run(self, skip: set[tuple] | None = None) -> list[dict]:
        """Measure everything planned (except cells in ``skip``: (op, impl,
        device, case, dtype) already stored); return the stored rows."""
        skip = skip or set()
        plan = self.plan()
        total = sum(len(chosen) for *_, chosen in plan)
        done = 0
        rows = []
        pool = None if self.config.in_process else self._start_pool()
        try:
            current_op = None
            for spec, case, dtype, chosen in plan:
                if pool is not None and spec.name != current_op:
                    pool.close_workers()  # one op's workers at a time
                    current_op = spec.name
                todo = [i for i in chosen if (spec.name, i.name, i.device, case.name, dtype) not in skip]
                done += len(chosen) - len(todo)
                if not todo:
                    continue
                data = self._case_data(spec, case, dtype, todo)
                # The next seed's inputs and reference, made only if some implementation gets that far.
                extra = functools.cache(
                    lambda spec=spec, case=case, dtype=dtype, todo=todo: self._case_data(
                        spec, case, dtype, todo, seed=self.config.seed + 1
                    )
                )
                for impl in todo:
                    if pool is None:
                        row = self._measure_checked(spec, case, dtype, impl, data, extra)
                    else:
                        row = self._measure_in_worker(pool, spec, case, dtype, impl, data, extra)
                    self.store.add(self.run_id, **row)
                    rows.append(row)
                    done += 1
                    self.on_result(row, done, total)
                if pool is not None:
                    pool.forget_case()
        finally:
            if pool is not None:
                pool.close()
                self.worker_startups = pool.startups
        return rows

    def seed_history(self, rows: list[dict]) -> None:
        """Rebuild what implementations did on smaller cases from stored rows
        (a resumed run): the larger cases are then skipped or predicted as
        they would have been."""
        for row in sorted(rows, key=lambda r: (r["size"] is None, r["size"] or 0)):
            key = (row["op"], f"{row['op']}/{row['impl']}/{row['device']}", row["family"])
            history = self._history.setdefault(key, _Progress())
            if row["status"] == "ok" and row.get("median_s") is not None and row.get("size") is not None:
                history.points.append((row["size"], row["median_s"]))
            elif row["status"] in ("over_budget", "timeout") and not history.over_budget:
                history.over_budget = f"{row['case_name']}: {row['status'].replace('_', ' ')} in the interrupted run"

    def _case_data(self, spec, case, dtype, todo, seed: int | None = None) -> dict | Exception:
        """Inputs, reference and cost model of one case, made once for every
        implementation (skipped when none of them can run)."""
        if not any(i.available and i.supports(dtype) for i in todo):
            return {}
        try:
            inputs = case_inputs(spec, case, dtype, self.config.seed if seed is None else seed)
            throughput = spec.throughput(**inputs)
            return {
                "inputs": inputs,
                "reference": spec.reference(**inputs),
                "flops": float(spec.flops(**inputs)),
                "bytes": float(spec.bytes_moved(**inputs)),
                "throughput": throughput,
            }
        except Exception as exc:  # a broken spec is reported on every cell of the case
            return exc

    def _measure_checked(self, spec, case, dtype, impl, data, extra: Callable[[], dict | Exception]) -> dict:
        """``_measure``, then the output checked once more on the next seed's inputs."""
        row = self._measure(spec, case, dtype, impl, data)
        return self._check_another_seed(spec, case, dtype, impl, extra(), row) if row["status"] == "ok" else row

    def _check_another_seed(self, spec, case, dtype, impl, data, row) -> dict:
        """One more call, on the case's inputs made from seed + 1, checked
        against their reference: an implementation right on one input by
        luck (or by special-casing it) is caught. A wrong answer here makes
        the cell a mismatch and drops its times."""
        if row["status"] != "ok":
            return row
        seed = self.config.seed + 1
        if isinstance(data, Exception):
            return _failed(row, "error", f"making the case with seed {seed} failed: {_error_text(data)}")
        try:
            native = impl.prepare(data["inputs"])

            def once():
                out = impl.call(native)
                impl.synchronize()
                return out

            output = call_with_budget(once, self.config.budget)
        except BudgetExceeded as exc:
            history = self._history.setdefault((spec.name, impl.key, case.family), _Progress())
            history.over_budget = f"{case.name}: seed {seed}: {exc}"
            return _failed(row, "over_budget", f"seed {seed}: {exc}")
        except Exception as exc:
            return _failed(row, "error", f"on the inputs of seed {seed}: {_error_text(exc)}")
        try:
            verdict = spec.compare(impl.to_numpy(output, data["inputs"]), data["reference"], data["inputs"])
        except Exception as exc:
            return _failed(row, "error", f"checking the output of seed {seed} failed: {_error_text(exc)}")
        if not verdict.ok:
            failed = _failed(row, "mismatch", f"seed {seed}: {verdict.message}")
            failed.update(max_abs_err=verdict.max_abs_err, max_rel_err=verdict.max_rel_err, rms_err=verdict.rms_err)
            return failed
        return row

    # -- worker processes ----------------------------------------------------------
    def _start_pool(self):
        from bench.worker import WorkerPool

        return WorkerPool(
            threads=self.config.threads,
            plugins=self.config.plugins,
            budget=self.config.budget,
            min_time=self.config.min_time,
            seed=self.config.seed,
        )

    def _calls_code(self, spec, case, dtype, impl, data) -> bool:
        """Whether ``_measure`` would run the implementation on this cell.
        Its other outcomes (unavailable, unsupported dtype, a case that could
        not be made, skipped or predicted over budget) are decided here from
        the parent's records, without a worker."""
        if not impl.available or not impl.supports(dtype) or not data or isinstance(data, Exception):
            return False
        history = self._history.get((spec.name, impl.key, case.family))
        if history is None:
            return True
        predicted = history.predict(case.size)
        return not history.over_budget and not (predicted is not None and predicted > self.config.budget)

    def _measure_in_worker(self, pool, spec, case, dtype, impl, data, extra) -> dict:
        if not self._calls_code(spec, case, dtype, impl, data):
            return self._measure(spec, case, dtype, impl, data)
        key = (spec.name, impl.key, case.family)
        request = {
            "case": case.name,
            "dtype": dtype,
            "progress": self._history.get(key),
            "shared": pool.share(case.name, dtype, self.config.seed, data),
            "shared_next": pool.share(case.name, dtype, self.config.seed + 1, extra()),
        }
        outcome = pool.measure(impl, request)
        if outcome.row is not None:
            self._history[key] = outcome.progress
            return outcome.row
        row = {
            **_base_row(spec, case, dtype, impl),
            "flops": data["flops"],
            "bytes": data["bytes"],
            "status": outcome.status,
            "error": outcome.message,
        }
        if data["throughput"]:
            row.update(throughput_items=data["throughput"][0], throughput_unit=data["throughput"][1])
        if outcome.status == "timeout":
            # As for a call stopped by the budget: the family's larger cases are skipped.
            self._history.setdefault(key, _Progress()).over_budget = f"{case.name}: timed out"
        return row

    def _measure(self, spec, case, dtype, impl, data) -> dict:
        row = _base_row(spec, case, dtype, impl)
        if not impl.available:
            return {**row, "status": "unavailable", "error": impl.reason}
        if not impl.supports(dtype):
            return {**row, "status": "unavailable", "error": f"{impl.name} does not support {dtype}"}
        if isinstance(data, Exception):
            return {**row, "status": "error", "error": f"making the case failed: {_error_text(data)}"}
        row.update(flops=data["flops"], bytes=data["bytes"], work_flops=impl.work_flops(data["inputs"]))
        if data["throughput"]:
            row.update(throughput_items=data["throughput"][0], throughput_unit=data["throughput"][1])

        history = self._history.setdefault((spec.name, impl.key, case.family), _Progress())
        budget = self.config.budget
        if history.over_budget:
            return {**row, "status": "over_budget", "error": f"skipped: {history.over_budget}"}
        predicted = history.predict(case.size)
        if predicted is not None and predicted > budget:
            history.over_budget = (
                f"{case.name}: predicted {predicted:.3g} s from the smaller cases; budget {budget:g} s"
            )
            return {**row, "status": "over_budget", "error": history.over_budget}

        try:
            native = impl.prepare(data["inputs"])

            def once():
                out = impl.call(native)
                impl.synchronize()
                return out

            start = timer.CLOCK()
            output = call_with_budget(once, budget)
            first_call = timer.CLOCK() - start
        except BudgetExceeded as exc:
            history.over_budget = f"{case.name}: {exc}"
            return {**row, "status": "over_budget", "error": str(exc), "first_call_s": budget}
        except Exception as exc:
            return {**row, "status": "error", "error": _error_text(exc)}
        row["first_call_s"] = first_call

        try:
            verdict = spec.compare(impl.to_numpy(output, data["inputs"]), data["reference"], data["inputs"])
        except Exception as exc:
            return {**row, "status": "error", "error": f"checking the output failed: {_error_text(exc)}"}
        row.update(max_abs_err=verdict.max_abs_err, max_rel_err=verdict.max_rel_err, rms_err=verdict.rms_err)
        if not verdict.ok:
            return {**row, "status": "mismatch", "error": verdict.message}

        if first_call > budget:
            history.over_budget = f"{case.name}: first call took {first_call:.3g} s; budget {budget:g} s"
            return {**row, "status": "over_budget", "error": history.over_budget}
        # A call slower than the minimum measuring time is warm after its first
        # call: no further warm-up, one call per round.
        slow = first_call >= self.config.min_time

        def call():
            return impl.call(native)

        timed_calls, timing = None, "wall clock (perf_counter)"
        try:
            if impl.device == "cuda":
                timed_calls, timing = gpu.kernel_timer(impl.backend, call, impl.synchronize, self.config.l2_flush)
                if slow:
                    # A CUDA first call often holds a JIT or NVRTC compile: judge by a warm call.
                    start = timer.CLOCK()
                    call()
                    impl.synchronize()
                    slow = timer.CLOCK() - start >= self.config.min_time
            stats = timer.measure(
                call,
                sync=impl.synchronize,
                min_time=self.config.min_time,
                max_time=max(budget - first_call, self.config.min_time),
                warmup_time=0.0 if slow else min(0.05, self.config.min_time / 4),
                number=1 if slow else None,
                timed_calls=timed_calls,
            )
        except Exception as exc:  # an implementation that fails only on a later call
            return {**row, "status": "error", "error": f"failed while timing: {_error_text(exc)}"}
        history.points.append((case.size, stats.median))
        result = {
            **row,
            "status": "ok",
            "error": verdict.message or None,
            **stats.summary(),
            "times": stats.times,
            "timing": timing,
        }
        if impl.device == "cuda":
            try:
                result.update(self._transfers(impl, data["inputs"], output))
            except Exception as exc:  # the kernel's figure stands; the transfers are missing, and say why
                note = f"timing the transfers failed: {_error_text(exc)}"
                result["error"] = f"{result['error']}; {note}" if result["error"] else note
        return result

    def _transfers(self, impl, inputs: dict, output) -> dict:
        """Host-to-device copy of the inputs (``prepare``) and device-to-host
        copy of the output (``to_numpy``), each timed on its own by the wall
        clock with a synchronisation, outside the kernel's timed region: a
        caller holding NumPy arrays pays kernel + h2d + d2h.  Their first
        calls (context creation, allocator growth) were made already."""
        settings = {
            "min_time": min(self.config.min_time, 0.05),
            "max_time": max(self.config.min_time, 1.0),
            "warmup_time": 0.0,
            "number": 1,
            "min_rounds": 3,
        }
        impl.synchronize()
        h2d = timer.measure(lambda: impl.prepare(inputs), sync=impl.synchronize, **settings)
        d2h = timer.measure(lambda: impl.to_numpy(output, inputs), sync=impl.synchronize, **settings)
        return {"h2d_s": h2d.median, "d2h_s": d2h.median}


def run_benchmarks(
    store: Store,
    config: RunConfig,
    *,
    settings: dict,
    threads: dict,
    name: str | None = None,
    on_result=None,
    peaks: dict | None = None,
    resume: str | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[str, list[dict]]:
    """Start a run row (or, given ``resume``, reopen that run and measure only
    the cells it lacks), measure, finish the row. Interrupted by Ctrl-C or
    SIGTERM the row says ``interrupted``; killed outright it keeps saying
    ``running``, and the runner's identity stored in its settings lets
    readers see that its process is gone."""
    from bench import machine
    from bench.liveness import runner_identity

    settings = {**settings, "runner": runner_identity()}
    if resume:
        run_id = resume
        stored = store.measurements([run_id])
        store.resume_run(run_id, settings)
    else:
        stored = []
        run_id = store.start_run(
            machine=machine.machine_info(),
            versions=machine.versions(),
            threads=threads,
            settings=settings,
            git_commit=machine.git_commit(),
            name=name,
        )
    if peaks:
        store.set_peaks(run_id, peaks)
    runner = Runner(store, run_id, config, on_result)
    runner.seed_history(stored)
    try:
        rows = runner.run(skip={tuple(r[k] for k in ("op", "impl", "device", "case_name", "dtype")) for r in stored})
    except BaseException:  # Ctrl-C, SIGTERM, or a bug in the harness: the rows so far stay
        store.finish_run(run_id, "interrupted")
        raise
    store.finish_run(run_id, "complete")
    if log and runner.worker_startups:
        seconds = [s for _, s in runner.worker_startups]
        log(
            f"{len(seconds)} worker process(es) started, {sum(seconds):.1f} s in all (median "
            f"{statistics.median(seconds):.2f} s, longest {max(seconds):.2f} s), none of it inside a measurement"
        )
    return run_id, rows
