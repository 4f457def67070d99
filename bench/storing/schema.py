"""The results store's schema: its tables at the current version, and the
steps that bring a store written by an earlier version up to it.

The version is SQLite's ``PRAGMA user_version``.  ``MIGRATIONS[i]`` brings a
store from version i + 1 to i + 2; the store applies them in order, each in
one transaction.  A new version adds its step here and bumps
``SCHEMA_VERSION``.
"""

from __future__ import annotations

from bench.measuring.cell import sql_columns

SCHEMA_VERSION = 4
TABLES = ("runs", "measurements", "machines")  # what SCHEMA creates
# The measurements table's columns come from the one declaration of a
# measurement's fields (bench/measuring/cell.py); a cell is unique per machine in a run.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    name        TEXT,
    started     TEXT NOT NULL,
    finished    TEXT,
    status      TEXT NOT NULL,          -- running / complete / interrupted
    git_commit  TEXT,
    machine     TEXT NOT NULL,          -- JSON: the machine the run was started on
    versions    TEXT NOT NULL,          -- JSON
    threads     TEXT NOT NULL,          -- JSON: what each thread pool reported
    settings    TEXT NOT NULL,          -- JSON: command line, budget, quick, ...
    peaks       TEXT                    -- JSON: measured machine limits, if any
);
CREATE TABLE IF NOT EXISTS measurements (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    {sql_columns()},
    created         TEXT NOT NULL,
    UNIQUE (run_id, machine, op, impl, device, "case", dtype)
);
CREATE TABLE IF NOT EXISTS machines (  -- every machine that measured in a run (a cluster's nodes)
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    machine     TEXT NOT NULL,          -- its name, as its measurements say
    manifest    TEXT NOT NULL,          -- JSON: machine_info() there
    versions    TEXT,                   -- JSON
    threads     TEXT,                   -- JSON
    peaks       TEXT,                   -- JSON
    PRIMARY KEY (run_id, machine)
);
"""

# MIGRATIONS[i] brings a store from schema version i + 1 to i + 2.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1 -> 2: GPU runs store their transfers apart from the kernel time, and
    # every measurement says how it was timed.
    (
        "ALTER TABLE measurements ADD COLUMN h2d_s REAL",
        "ALTER TABLE measurements ADD COLUMN d2h_s REAL",
        "ALTER TABLE measurements ADD COLUMN timing TEXT",
    ),
    # 2 -> 3: an implementation with a fast algorithm (Winograd) stores the
    # FLOPs it performs, which its fraction of peak is taken against.
    ("ALTER TABLE measurements ADD COLUMN work_flops REAL",),
    # 3 -> 4: every measurement names the machine that made it (a run across a
    # cluster has several), a cell is unique per machine, and "case_name" is
    # "case" as everywhere else; the machines table holds each one's manifest.
    # Rows stored before are the run's own machine's (its host name).
    (
        """CREATE TABLE measurements_v4 (
            id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id),
            "op" TEXT NOT NULL, "impl" TEXT NOT NULL, "backend" TEXT NOT NULL, "device" TEXT NOT NULL,
            "case" TEXT NOT NULL, "family" TEXT NOT NULL, "params" TEXT NOT NULL, "dtype" TEXT NOT NULL,
            "size" REAL, "machine" TEXT NOT NULL, "status" TEXT NOT NULL, "error" TEXT, "first_call_s" REAL,
            "min_s" REAL, "median_s" REAL, "q1_s" REAL, "q3_s" REAL, "iqr_s" REAL, "mean_s" REAL,
            "stdev_s" REAL, "rounds" INTEGER, "number" INTEGER, "times" TEXT, "flops" REAL, "bytes" REAL,
            "throughput_items" REAL, "throughput_unit" TEXT, "max_abs_err" REAL, "max_rel_err" REAL,
            "rms_err" REAL, "h2d_s" REAL, "d2h_s" REAL, "timing" TEXT, "work_flops" REAL,
            created TEXT NOT NULL,
            UNIQUE (run_id, machine, op, impl, device, "case", dtype))""",
        """INSERT INTO measurements_v4 SELECT m.id, m.run_id, m.op, m.impl, m.backend, m.device, m.case_name,
            m.family, m.params, m.dtype, m.size, COALESCE(json_extract(r.machine, '$.hostname'), 'unnamed'),
            m.status, m.error, m.first_call_s, m.min_s, m.median_s, m.q1_s, m.q3_s, m.iqr_s, m.mean_s, m.stdev_s,
            m.rounds, m.number, m.times, m.flops, m.bytes, m.throughput_items, m.throughput_unit, m.max_abs_err,
            m.max_rel_err, m.rms_err, m.h2d_s, m.d2h_s, m.timing, m.work_flops, m.created
            FROM measurements m LEFT JOIN runs r ON r.run_id = m.run_id""",
        "DROP TABLE measurements",
        "ALTER TABLE measurements_v4 RENAME TO measurements",
        """CREATE TABLE machines (
            run_id TEXT NOT NULL REFERENCES runs(run_id), machine TEXT NOT NULL, manifest TEXT NOT NULL,
            versions TEXT, threads TEXT, peaks TEXT, PRIMARY KEY (run_id, machine))""",
        """INSERT INTO machines SELECT run_id, COALESCE(json_extract(machine, '$.hostname'), 'unnamed'), machine,
            versions, threads, peaks FROM runs""",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION - 1, "every schema version needs its migration step"
