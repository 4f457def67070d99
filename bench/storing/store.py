"""The results store: one SQLite file, written as measurements complete.

A run row holds the machine, versions, thread settings and how the run was
asked for; a measurement row holds one (implementation, case, dtype) result
with its statistics, every round, its cost model and its status.  Each row is
committed on its own (WAL journal), so an interrupted run keeps everything
measured before the interruption; a run killed at any moment, SIGKILL
included, leaves a consistent store.  Several runs may write one store at
once: writers wait for each other (busy timeout, then retries).

A new store is created at the schema's current version (bench/storing/schema.py);
an older one is brought up to it by the schema's migration steps, in order,
each in one transaction; a newer one is refused.
"""

from __future__ import annotations

import datetime
import json
import random
import sqlite3
import time
import uuid
from pathlib import Path

from bench.measuring.cell import Measurement, decode, encode, machine_name
from bench.storing.liveness import runner_gone
from bench.storing.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, TABLES

DEFAULT_DB = Path("results") / "results.sqlite"


class RunBusy(Exception):
    """The run is being written by a live process."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


WRITE_PATIENCE = 300.0  # seconds a write keeps retrying while other writers hold the store


def _retrying(write):
    """Run ``write`` (one transaction), retrying while the store is locked.

    The connection's busy timeout already waits for other writers; SQLite
    still answers "database is locked" at once where waiting could deadlock,
    and a long checkpoint by another process can outlast the timeout.
    Retrying the whole transaction is safe: it either committed or not.
    """
    deadline = time.monotonic() + WRITE_PATIENCE
    pause = 0.01
    while True:
        try:
            return write()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(pause * (1 + random.random()))  # jittered, so two waiting writers do not collide again
        pause = min(pause * 2, 1.0)


class NotAStore(ValueError):
    """A file given as a results store that is not one; it is left as it was."""


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.row_factory = sqlite3.Row
        try:
            # Read before anything is written: SQLite refuses a file that is not
            # a database here, at its first read of the header.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise NotAStore(f"{self.path} is not a Kernel Arena results store ({exc})") from None
        # Tables of ours at version 0 are another process creating this store
        # right now (the schema's statements commit one by one); any other
        # table is another program's database: never write our schema into it.
        foreign = {t for t in tables if t not in TABLES and not t.startswith("sqlite_")}
        if version == 0 and foreign:
            self.db.close()
            raise NotAStore(f"{self.path} is an SQLite database but not a Kernel Arena results store (its tables: "
                            f"{', '.join(sorted(foreign))})")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer Kernel Arena (store schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade kernel-arena or choose another --db"
            )
        if version == 0:  # a new file
            with self.db:
                self.db.executescript(SCHEMA)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.migrated_from = version if 0 < version < SCHEMA_VERSION else None
        if self.migrated_from:
            self._migrate()

    def _migrate(self) -> None:
        """Apply the migration steps from the store's version on, each step in
        one transaction (taken IMMEDIATE, and the version read again inside
        it, so two processes opening the same old store do not both apply it)."""
        while True:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                version = self.db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    self.db.commit()
                    return
                for statement in MIGRATIONS[version - 1]:
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={version + 1}")
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise

    def close(self) -> None:
        self.db.close()

    # -- runs -------------------------------------------------------------------
    def start_run(
        self,
        *,
        machine: dict,
        versions: dict,
        threads: dict,
        settings: dict,
        git_commit: str | None,
        name: str | None = None,
    ) -> str:
        started = _now()
        run_id = started.replace(":", "").replace("-", "")[:15] + "-" + uuid.uuid4().hex[:6]
        self._write(
            "INSERT INTO runs (run_id, name, started, status, git_commit, machine, versions, threads, settings)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (
                run_id,
                name,
                started,
                git_commit,
                json.dumps(machine),
                json.dumps(versions),
                json.dumps(threads),
                json.dumps(settings),
            ),
        )
        return run_id

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        self._write("UPDATE runs SET finished=?, status=? WHERE run_id=?", (_now(), status, run_id))

    def resume_run(self, run_id: str, settings: dict) -> None:
        """Claim a stored run to write more of it: mark it running again,
        under ``settings`` (which name the process now writing it).  Refused
        (RunBusy) while another live process writes the run; two processes
        resuming one run at once cannot both claim it (the check and the
        claim are one write transaction)."""

        def claim():
            self.db.execute("BEGIN IMMEDIATE")  # the write lock first: no other claim between check and update
            try:
                row = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
                if row is None:
                    raise KeyError(f"no run {run_id!r} in {self.path}")
                run = _decode_run(row)
                if run["status"] == "running":
                    runner = (run["settings"] or {}).get("runner") or {}
                    raise RunBusy(
                        f"run {run_id} is still being written (pid {runner.get('pid', '?')} on "
                        f"{runner.get('host', '?')}); stop that process first"
                    )
                self.db.execute(
                    "UPDATE runs SET finished=NULL, status='running', settings=? WHERE run_id=?",
                    (json.dumps(settings), run_id),
                )
            except BaseException:
                self.db.rollback()
                raise
            self.db.commit()

        _retrying(claim)

    def set_peaks(self, run_id: str, peaks: dict) -> None:
        self._write("UPDATE runs SET peaks=? WHERE run_id=?", (json.dumps(peaks), run_id))

    def _write(self, sql: str, parameters: tuple) -> None:
        def write():
            with self.db:
                self.db.execute(sql, parameters)

        _retrying(write)

    def runs(self) -> list[dict]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY started, rowid").fetchall()
        return [_decode_run(row) for row in rows]

    def run(self, run_id: str) -> dict:
        row = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return _decode_run(row)

    # -- measurements -------------------------------------------------------------
    def add(self, run_id: str, measurement: Measurement | None = None, **fields) -> None:
        """Store a measurement (or one made of ``fields``: made on this machine
        unless they say otherwise); a cell measured again replaces its row."""
        if measurement is None:
            measurement = Measurement.from_row({"machine": machine_name(), **fields})
        row = encode(measurement.as_row())
        columns = ["run_id", *row, "created"]
        quoted = ", ".join(f'"{c}"' for c in columns)
        self._write(
            f"INSERT OR REPLACE INTO measurements ({quoted}) VALUES ({', '.join('?' * len(columns))})",
            (run_id, *row.values(), _now()),
        )

    def measurements(self, run_ids: list[str] | None = None) -> list[dict]:
        """Every stored measurement (of ``run_ids``), as its fields plus
        ``id``, ``run_id`` and ``created``."""
        if run_ids is None:
            rows = self.db.execute("SELECT * FROM measurements ORDER BY id").fetchall()
        else:
            marks = ", ".join("?" * len(run_ids))
            rows = self.db.execute(
                f"SELECT * FROM measurements WHERE run_id IN ({marks}) ORDER BY id", run_ids
            ).fetchall()
        return [decode(dict(row)) for row in rows]

    # -- machines -------------------------------------------------------------------
    def add_machine(
        self, run_id: str, machine: str, *, manifest: dict, versions: dict | None = None,
        threads: dict | None = None, peaks: dict | None = None,
    ) -> None:  # fmt: skip
        """Record a machine that measures in the run (again: its figures as now)."""
        self._write(
            "INSERT INTO machines (run_id, machine, manifest, versions, threads, peaks) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, machine) DO UPDATE SET manifest=excluded.manifest, versions=excluded.versions,"
            " threads=excluded.threads, peaks=COALESCE(excluded.peaks, machines.peaks)",
            (run_id, machine, *(None if v is None else json.dumps(v) for v in (manifest, versions, threads, peaks))),
        )

    def machines(self, run_id: str) -> list[dict]:
        """The machines that measured in the run, in the order they joined it."""
        rows = self.db.execute("SELECT * FROM machines WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            for key in ("manifest", "versions", "threads", "peaks"):
                item[key] = json.loads(item[key]) if item[key] else None
            out.append(item)
        return out


def _decode_run(row: sqlite3.Row) -> dict:
    run = dict(row)
    for key in ("machine", "versions", "threads", "settings", "peaks"):
        run[key] = json.loads(run[key]) if run[key] else None
    # A run whose process was killed outright (SIGKILL, OOM) still says
    # running: show it as what it is. The stored row stays as written.
    if run["status"] == "running" and runner_gone((run["settings"] or {}).get("runner")):
        run["status"] = "interrupted"
        run["stored_status"] = "running"
    return run
