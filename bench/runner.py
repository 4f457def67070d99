"""The runner: the cells a run selects (every op, case, dtype and
implementation asked for), measured by an executor (bench.measuring.executors: in
this process, in worker processes, across a Ray cluster), each stored as it
completes.

It knows ops and backends only through the registry (``impls``).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable

import impls
from bench.measuring.cell import Cell, MeasureSettings, machine_name
from bench.storing.store import Store


@dataclasses.dataclass
class RunConfig:
    ops: list[str] | None = None  # None: every op
    backends: list[str] | None = None
    devices: list[str] | None = None
    names: list[str] | None = None  # implementation names
    dtypes: tuple[str, ...] = ("float32",)
    quick: bool = False  # only the small cases, shorter measuring
    settings: MeasureSettings = MeasureSettings()  # budget, minimum time, seed, L2 flush, threads
    # Run implementations here rather than in worker processes (debugging;
    # a crash or a hang then takes the run down).
    in_process: bool = False
    plugins: tuple[str, ...] = ()  # plugin files workers load, as the parent did
    # A Ray cluster's address (bench.measuring.cluster): every node measures the cells of its devices.
    cluster: str | None = None
    cpu_on_gpu_nodes: bool = False  # a cluster's GPU nodes measure the cpu implementations too
    node_peaks: bool = False  # each cluster node measures its machine's peaks as it joins

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
        self.executor = make_executor(config)

    def cells(self) -> list[Cell]:
        """Every selected cell, by op, then case family and size (an
        implementation that goes over budget skips the larger cases of the
        same family only), then dtype."""
        cells = []
        for op in self.config.selected_ops():
            spec = impls.spec(op)
            chosen = self.config.implementations(op)
            for case in self.config.cases(spec):
                # Pure Python runs the small cases only, as in the correctness matrix.
                fits = [impl for impl in chosen if case.small or not impl.small_only]
                for dtype in self.config.dtypes:
                    if dtype in spec.dtypes:
                        cells += [Cell(op, i.name, i.device, case.name, dtype, self.config.settings) for i in fits]
        return cells

    def run(self, stored: list[dict] | None = None) -> list[dict]:
        """Measure every selected cell but those ``stored`` already (a resumed
        run); return the rows stored now."""
        self.executor.resume(stored or [])
        cells = self.cells()
        total = len(self.executor.todo(cells))
        rows = []
        for measurement in self.executor.measure(cells):
            self.store.add(self.run_id, measurement)
            rows.append(measurement.as_row())
            self.on_result(rows[-1], len(rows), total)
        return rows


def make_executor(config: RunConfig):
    if config.cluster:
        from bench.measuring.cluster import RayCluster

        return RayCluster(config.cluster, config.settings, plugins=config.plugins, in_process=config.in_process,
                          cpu_on_gpu_nodes=config.cpu_on_gpu_nodes, peaks=config.node_peaks)  # fmt: skip
    from bench.measuring.executors import InProcess, Workers

    return InProcess(config.settings) if config.in_process else Workers(config.settings, config.plugins)


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
    from bench.measuring import machine
    from bench.storing.liveness import runner_identity

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
    executor = runner.executor
    if config.cluster:  # each node says what it is as it joins
        executor.on_machine = lambda record: store.add_machine(run_id, **record)
        executor.log = log or (lambda message: None)
    else:
        store.add_machine(
            run_id, machine_name(), manifest=machine.machine_info(), versions=machine.versions(), threads=threads,
            peaks=peaks,
        )  # fmt: skip
    try:
        rows = runner.run(stored)
    except BaseException:  # Ctrl-C, SIGTERM, or a bug in the harness: the rows so far stay
        store.finish_run(run_id, "interrupted")
        raise
    # A node lost mid-run leaves cells unmeasured: the run is for --resume to finish.
    store.finish_run(run_id, "interrupted" if executor.lost else "complete")
    if log and executor.worker_startups:
        seconds = [s for _, s in executor.worker_startups]
        log(
            f"{len(seconds)} worker process(es) started, {sum(seconds):.1f} s in all (median "
            f"{statistics.median(seconds):.2f} s, longest {max(seconds):.2f} s), none of it inside a measurement"
        )
    return run_id, rows
