"""The runner: for every selected op, case and dtype, make the inputs once,
compute the reference once, then check and time every selected
implementation, storing each result as it completes.

By default each implementation runs in a worker process of its own
(``bench.worker``): the worker makes the case's inputs itself from the same
seed, and runs the same measuring code (``bench.measure``) on them, so a
crash, a hang in native code or a poisoned CUDA context costs that
implementation its cell, not the run.  ``RunConfig.in_process`` runs
everything here instead, for debugging.

It knows ops and backends only through the registry (``impls``).
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
from collections.abc import Callable

import impls
from bench.measure import CellMeasurer, MeasureSettings, Progress, base_row, case_inputs
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

    def settings(self) -> MeasureSettings:
        """What every measurement of the run follows, wherever it is made."""
        return MeasureSettings(budget=self.budget, min_time=self.min_time, seed=self.seed, l2_flush=self.l2_flush)

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


class Runner:
    def __init__(
        self, store: Store, run_id: str, config: RunConfig, on_result: Callable[[dict, int, int], None] | None = None
    ):
        self.store = store
        self.run_id = run_id
        self.config = config
        self.on_result = on_result or (lambda row, done, total: None)
        self.measurer = CellMeasurer(config.settings())
        self.worker_startups: list[tuple[str, float]] = []  # (implementation, seconds), kept out of the store

    def plan(self) -> list[tuple[impls.OpSpec, impls.Case, str, list[impls.Implementation]]]:
        plan = []
        for op in self.config.selected_ops():
            spec = impls.spec(op)
            chosen = self.config.implementations(op)
            if not chosen:
                continue
            for case in self.config.cases(spec):
                # Pure Python runs the small cases only, as in the correctness matrix.
                fits = [impl for impl in chosen if case.small or not impl.small_only]
                for dtype in self.config.dtypes:
                    if dtype in spec.dtypes and fits:
                        plan.append((spec, case, dtype, fits))
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
        interrupted = True  # until the loop completes: Ctrl-C, SIGTERM, a harness bug
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
                        row = self.measurer.measure_checked(spec, case, dtype, impl, data, extra)
                    else:
                        row = self._measure_in_worker(pool, spec, case, dtype, impl, data, extra)
                    self.store.add(self.run_id, **row)
                    rows.append(row)
                    done += 1
                    self.on_result(row, done, total)
                if pool is not None:
                    pool.forget_case()
            interrupted = False
        finally:
            if pool is not None:
                pool.close(now=interrupted)  # interrupted: workers are killed, not waited for
                self.worker_startups = pool.startups
        return rows

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

    # -- worker processes ----------------------------------------------------------
    def _start_pool(self):
        from bench.worker import WorkerPool

        return WorkerPool(threads=self.config.threads, plugins=self.config.plugins, settings=self.config.settings())

    def _measure_in_worker(self, pool, spec, case, dtype, impl, data, extra) -> dict:
        if not self.measurer.calls_code(spec, case, dtype, impl, data):
            return self.measurer.measure(spec, case, dtype, impl, data)
        key = (spec.name, impl.key, case.family)
        request = {
            "case": case.name,
            "dtype": dtype,
            "progress": self.measurer.history.get(key),
            "shared": pool.share(case.name, dtype, self.config.seed, data),
            "shared_next": pool.share(case.name, dtype, self.config.seed + 1, extra()),
        }
        outcome = pool.measure(impl, request)
        if outcome.row is not None:
            self.measurer.history[key] = outcome.progress
            return outcome.row
        row = {
            **base_row(spec, case, dtype, impl),
            "flops": data["flops"],
            "bytes": data["bytes"],
            "status": outcome.status,
            "error": outcome.message,
        }
        if data["throughput"]:
            row.update(throughput_items=data["throughput"][0], throughput_unit=data["throughput"][1])
        if outcome.status == "timeout":
            # As for a call stopped by the budget: the family's larger cases are skipped.
            self.measurer.history.setdefault(key, Progress()).over_budget = f"{case.name}: timed out"
        return row

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
    runner.measurer.seed_history(stored)
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
