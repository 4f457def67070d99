"""Executors: where and how cells are measured, behind one interface.

    executor.resume(stored)         # measurements a resumed run already holds
    executor.todo(cells)            # (machine, cell) pairs it will measure
    for m in executor.measure(cells): ...   # Measurements, as they complete

``InProcess`` measures here (debugging: a crash ends the run); ``Workers``
measures each implementation in a worker process of its own (bench.measuring.worker);
the Ray executor (bench.measuring.cluster) sends cells to every node of a cluster,
each node measuring with its own ``Workers``.  All of them run the one
measuring function, ``CellMeasurer.measure_checked`` (bench.measuring.measure), and
make a case's inputs and reference once for all its implementations.

Executors know ops and backends only through the registry (``impls``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

import impls
from bench.measuring.cell import Cell, Measurement, MeasureSettings, cell_key, machine_name
from bench.measuring.measure import (
    CellMeasurer,
    Progress,
    base_row,
    call_and_wait,
    case_costs,
    case_inputs,
    error_text,
    failed_row,
    timed_round,
)


def make_case_data(spec, case, dtype: str, seed: int) -> dict | Exception:
    """Inputs, reference and cost model of one case; the exception that
    making them raised (reported on every cell of the case)."""
    try:
        inputs = case_inputs(spec, case, dtype, seed)
        return {
            "inputs": inputs,
            "reference": spec.reference(**inputs),
            "flops": float(spec.flops(**inputs)),
            "bytes": float(spec.bytes_moved(**inputs)),
            "throughput": spec.throughput(**inputs),
        }
    except Exception as exc:
        return exc


class Executor:
    """Measures cells on this machine (``Workers`` and ``InProcess`` below)."""

    def __init__(self, settings: MeasureSettings):
        self.settings = settings
        self.measurer = CellMeasurer(settings)
        self.machine = machine_name()
        self._stored: set[tuple] = set()
        self._cases: dict[tuple, dict | Exception] = {}  # the current case's data, by seed
        self.worker_startups: list[tuple[str, float]] = []  # (implementation, seconds), kept out of the store
        self.lost: list[str] = []  # machines lost mid-run and what they left unmeasured (a cluster's nodes)

    def resume(self, stored: list[dict]) -> None:
        """Leave out the cells this machine already measured in a resumed run;
        rebuild what its implementations did on the smaller cases."""
        mine = [r for r in stored if r.get("machine", self.machine) == self.machine]
        self._stored |= {cell_key(r) for r in mine}
        self.measurer.seed_history(mine)

    def todo(self, cells: Iterable[Cell]) -> list[tuple[str, Cell]]:
        return [(self.machine, c) for c in cells if c.key not in self._stored]

    def measure(self, cells: Iterable[Cell]) -> Iterator[Measurement]:
        try:
            for _, cell in self.todo(cells):
                yield self.measure_one(cell)
            self.close()
        except BaseException:  # Ctrl-C, SIGTERM, the consumer gone: nothing is waited for
            self.close(now=True)
            raise

    def measure_one(self, cell: Cell) -> Measurement:
        return self._measure(*self._resolve(cell))

    def contend(self, cell: Cell) -> Contender:
        """The cell's first call and both checks, its inputs then kept ready
        for the headline's interleaved rounds (``Contender.round``)."""
        return self._contend(*self._resolve(cell))

    def _resolve(self, cell: Cell) -> tuple:
        """(spec, case, dtype, implementation, the case's data: none made where it cannot run)."""
        impl = impls.get(cell.op, cell.impl, cell.device)
        spec, case = impl.spec, impl.spec.case(cell.case)
        usable = impl.available and impl.supports(cell.dtype)
        data = self.case_data(spec, case, cell.dtype, self.settings.seed) if usable else {}
        return spec, case, cell.dtype, impl, data

    def case_data(self, spec, case, dtype: str, seed: int) -> dict | Exception:
        """The case's inputs, reference and cost model, made once for all its
        implementations (only the current case's are kept)."""
        if not any(key[:3] == (spec.name, case.name, dtype) for key in self._cases):
            self._cases.clear()
            self._new_case()
        key = (spec.name, case.name, dtype, seed)
        if key not in self._cases:
            self._cases[key] = make_case_data(spec, case, dtype, seed)
        return self._cases[key]

    def _contend(self, spec, case, dtype, impl, data) -> Contender:
        raise NotImplementedError

    def _new_case(self) -> None:
        """The previous case's data is no longer needed."""

    def _measure(self, spec, case, dtype, impl, data) -> Measurement:
        raise NotImplementedError

    def close(self, *, now: bool = False) -> None:
        pass


class ContenderFailed(Exception):
    """A contender failed in a timed round: ``measurement`` says how."""

    def __init__(self, measurement: Measurement):
        super().__init__(measurement.error)
        self.measurement = measurement


class Contender:
    """One implementation in the headline's interleaved rounds: checked
    (``measurement``: ok, or the failure that leaves it out), then timed
    round by round."""

    def __init__(self, measurement: Measurement, round_fn=None, call=None):
        self.measurement = measurement
        self._round = round_fn
        # In this process: one call and the wait for its device, for timers of
        # their own (pytest-benchmark).
        self.call = call

    def round(self, number: int) -> float:
        """Seconds per call over ``number`` calls; ContenderFailed if it fails."""
        return self._round(number)


class InProcess(Executor):
    """Every cell measured in this process (``--in-process``)."""

    def _measure(self, spec, case, dtype, impl, data) -> Measurement:
        next_seed = lambda: self.case_data(spec, case, dtype, self.settings.seed + 1)  # noqa: E731
        return self.measurer.measure_checked(spec, case, dtype, impl, data, next_seed)

    def _contend(self, spec, case, dtype, impl, data) -> Contender:
        next_seed = lambda: self.case_data(spec, case, dtype, self.settings.seed + 1)  # noqa: E731
        row, native = self.measurer.contend(spec, case, dtype, impl, data, next_seed)
        if native is None:
            return Contender(Measurement.from_row(row))

        def round_fn(number: int) -> float:
            try:
                return timed_round(impl, native, number)
            except Exception as exc:  # an implementation that fails only on a later call
                failed = failed_row(row, "error", f"failed while timing: {error_text(exc)}")
                raise ContenderFailed(Measurement.from_row(failed)) from exc

        return Contender(Measurement.from_row(row), round_fn, functools.partial(call_and_wait, impl, native))


class Workers(Executor):
    """Each implementation in a worker process of its own, one op's workers
    at a time: a crash, a hang or a poisoned CUDA context costs a cell, not
    the run (``crashed``, ``timeout``, ``error``)."""

    def __init__(self, settings: MeasureSettings, plugins: Iterable[str] = ()):
        super().__init__(settings)
        self.plugins = tuple(str(p) for p in plugins)
        self._pool = None
        self._op = None

    def _measure(self, spec, case, dtype, impl, data, kind: str = "measure") -> Measurement:
        if not self.measurer.calls_code(spec, case, dtype, impl, data):
            return self.measurer.measure(spec, case, dtype, impl, data)
        if self._pool is None:
            from bench.measuring.worker import WorkerPool

            self._pool = WorkerPool(plugins=self.plugins, settings=self.settings)
        pool = self._pool
        if spec.name != self._op:
            pool.close_workers()  # one op's workers at a time
            self._op = spec.name
        seed = self.settings.seed
        key = (spec.name, impl.key, case.family)
        request = {
            "kind": kind,
            "case": case.name,
            "dtype": dtype,
            "progress": self.measurer.history.get(key),
            "shared": pool.share(spec.name, case.name, dtype, seed, data),
            "shared_next": pool.share(
                spec.name, case.name, dtype, seed + 1, self.case_data(spec, case, dtype, seed + 1)
            ),
        }
        outcome = pool.measure(impl, request)
        if outcome.measurement is not None:
            self.measurer.history[key] = outcome.progress
            return outcome.measurement
        return self._failed(spec, case, dtype, impl, data, outcome)

    def _failed(self, spec, case, dtype, impl, data, outcome) -> Measurement:
        """The cell's measurement when its worker crashed, hung or raised."""
        row = {**base_row(spec, case, dtype, impl), **case_costs(data)}
        if outcome.status == "timeout":
            # As for a call stopped by the budget: the family's larger cases are skipped.
            key = (spec.name, impl.key, case.family)
            self.measurer.history.setdefault(key, Progress()).over_budget = f"{case.name}: timed out"
        return Measurement.from_row({**row, "status": outcome.status, "error": outcome.message})

    def _contend(self, spec, case, dtype, impl, data) -> Contender:
        measurement = self._measure(spec, case, dtype, impl, data, kind="contend")
        if measurement.status != "ok":
            return Contender(measurement)
        pool = self._pool

        def round_fn(number: int) -> float:
            outcome = pool.round(impl, number)
            if outcome.status != "timed":
                raise ContenderFailed(self._failed(spec, case, dtype, impl, data, outcome))
            return outcome.seconds

        return Contender(measurement, round_fn)

    def _new_case(self) -> None:
        if self._pool is not None:
            self._pool.forget_case()

    def close(self, *, now: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(now=now)  # now: workers are killed, not waited for
            self.worker_startups = self._pool.startups
            self._pool = None
