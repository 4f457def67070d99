"""What is measured and what a measurement holds, each declared once.

A ``Cell`` is one (op, implementation, device, case, dtype) with the
settings it is measured under; a ``Measurement`` is what became of it.  The
store's columns, the JSON and CSV exports, ``run --json`` and the report's
columns all derive from the fields of ``Measurement`` below: a field added
here reaches every one of them (and needs a schema migration in
``bench/storing/store.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from typing import Any

# ok: checked and timed. mismatch: a wrong answer. error: the implementation
# raised. crashed: its worker process died (a signal, an exit). timeout: a call
# would not return and its worker was killed. over_budget: stopped or skipped
# for time. unavailable: cannot run here.
STATUSES = ("ok", "mismatch", "error", "crashed", "timeout", "over_budget", "unavailable")
FAILURES = ("mismatch", "error", "crashed", "timeout")  # a measurement that must never read as a time

# The baseline every speedup is taken against: the stock implementation of
# this backend, registered under the backend's own name (an op may hold other
# torch-backend variants, e.g. wavenet_stream's torch_naive).
BASELINE_BACKEND = "torch"


def is_baseline(backend: str, impl: str) -> bool:
    return backend == BASELINE_BACKEND and impl == BASELINE_BACKEND


def machine_name() -> str:
    """The name measurements made in this process are stored under: the
    KERNEL_ARENA_MACHINE variable where set (two nodes of one host, a
    machine known by another name), else the host name."""
    return os.environ.get("KERNEL_ARENA_MACHINE") or socket.gethostname()


@dataclasses.dataclass(frozen=True)
class MeasureSettings:
    """How every cell of a run is measured, wherever it is measured."""

    budget: float = 10.0  # seconds one measurement may take before it is stopped
    min_time: float = 0.2  # seconds of timed rounds at least
    seed: int = 0  # of the input generators; seed + 1 makes the second check's inputs
    l2_flush: bool = True  # CUDA: evict the L2 before each timed call
    # Threads workers apply (None: leave them as they are). Workers are forked from
    # a server that inherits the parent's environment: the parent calls
    # machine.preset_thread_env(threads) before importing torch, as the CLI does,
    # so that variables read at library load (OMP_WAIT_POLICY) match too.
    threads: int | None = None


# What names a cell in a run (on one machine): resuming, comparing and reporting match on it.
CELL_KEY = ("op", "impl", "device", "case", "dtype")


def cell_key(row: dict) -> tuple[str, str, str, str, str]:
    """A stored measurement's cell, as ``Cell.key`` names it."""
    return tuple(row[k] for k in CELL_KEY)


@dataclasses.dataclass(frozen=True)
class Cell:
    op: str
    impl: str
    device: str
    case: str
    dtype: str
    settings: MeasureSettings = MeasureSettings()

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return tuple(getattr(self, k) for k in CELL_KEY)

    def __str__(self) -> str:
        return f"{self.op}/{self.impl} {self.device} {self.case} {self.dtype}"


def _column(sql: str, doc: str, json_encoded: bool = False):
    return dataclasses.field(default=None, metadata={"sql": sql, "doc": doc, "json": json_encoded})


@dataclasses.dataclass
class Measurement:
    """One cell's outcome. Times are seconds per call; ``times`` keeps every round."""

    op: str = _column("TEXT NOT NULL", "the op")
    impl: str = _column("TEXT NOT NULL", "the implementation's name")
    backend: str = _column("TEXT NOT NULL", "its backend")
    device: str = _column("TEXT NOT NULL", "cpu or cuda")
    case: str = _column("TEXT NOT NULL", "the case's name")
    family: str = _column("TEXT NOT NULL", "the case's family (cases of one family differ in size)")
    params: dict = _column("TEXT NOT NULL", "the case's parameters", json_encoded=True)
    dtype: str = _column("TEXT NOT NULL", "the inputs' dtype")
    size: float | None = _column("REAL", "the case's size, the x axis of scaling plots")
    machine: str = _column("TEXT NOT NULL", "the machine that measured it (machine_name() there)")
    status: str = _column("TEXT NOT NULL", "one of STATUSES")
    error: str | None = _column("TEXT", "why it failed, or a note on a success")
    first_call_s: float | None = _column("REAL", "the first call (JIT and compile included)")
    min_s: float | None = _column("REAL", "the fastest round")
    median_s: float | None = _column("REAL", "the median round")
    q1_s: float | None = _column("REAL", "the first quartile of the rounds")
    q3_s: float | None = _column("REAL", "the third quartile")
    iqr_s: float | None = _column("REAL", "q3 - q1")
    mean_s: float | None = _column("REAL", "the mean round")
    stdev_s: float | None = _column("REAL", "the rounds' standard deviation")
    rounds: int | None = _column("INTEGER", "timed rounds")
    number: int | None = _column("INTEGER", "calls per round")
    times: list | None = _column("TEXT", "per-call seconds of every round", json_encoded=True)
    flops: float | None = _column("REAL", "the op's FLOPs on the case (its cost model)")
    bytes: float | None = _column("REAL", "the bytes the op must move at least")
    throughput_items: float | None = _column("REAL", "items per call (steps, boxes) where the op counts them")
    throughput_unit: str | None = _column("TEXT", "what those items are")
    max_abs_err: float | None = _column("REAL", "against the float64 reference")
    max_rel_err: float | None = _column("REAL", "against the float64 reference")
    rms_err: float | None = _column("REAL", "against the float64 reference")
    h2d_s: float | None = _column("REAL", "CUDA: copying the inputs to the device, outside the timed region")
    d2h_s: float | None = _column("REAL", "CUDA: copying the output back to the host")
    timing: str | None = _column("TEXT", "how the calls were timed (clock, L2 flush)")
    work_flops: float | None = _column("REAL", "FLOPs the implementation's algorithm performs, where fewer")

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {self.status!r}")

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return tuple(getattr(self, k) for k in CELL_KEY)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Measurement:
        unknown = set(row) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown measurement fields: {', '.join(sorted(unknown))}")
        return cls(**row)

    def as_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Measurement))
JSON_FIELDS = frozenset(f.name for f in dataclasses.fields(Measurement) if f.metadata["json"])
# What `run --json` prints of each measurement: the summary, not every round.
SUMMARY_FIELDS = (
    "op", "impl", "backend", "device", "case", "dtype", "machine", "status",
    "median_s", "min_s", "iqr_s", "rounds", "first_call_s", "h2d_s", "d2h_s", "error",
)  # fmt: skip
# Keys earlier versions wrote (old name -> field), kept for scripts that read them.
RUN_JSON_LEGACY_KEYS = {"name": "impl"}  # `run --json`
EXPORT_LEGACY_KEYS = {"case_name": "case"}  # `export`


def with_legacy_keys(row: dict, legacy: dict[str, str]) -> dict:
    return {**row, **{old: row[new] for old, new in legacy.items()}}


def sql_columns() -> str:
    """The measurement columns of the store's table, from the declaration."""
    return ",\n    ".join(f'"{f.name}" {f.metadata["sql"]}' for f in dataclasses.fields(Measurement))


def encode(row: dict) -> dict:
    """A row's JSON-held fields as text, for the store."""
    return {k: json.dumps(v) if k in JSON_FIELDS and v is not None and not isinstance(v, str) else v
            for k, v in row.items()}  # fmt: skip


def decode(row: dict) -> dict:
    """A stored row as a measurement's fields (JSON decoded)."""
    out = dict(row)
    for key in JSON_FIELDS:
        value = out.get(key)
        out[key] = json.loads(value) if isinstance(value, str) and value else ([] if key == "times" else value)
    return out
