"""One stored run written out as CSV or JSON (`bench export`): every
measurement with every field, and in JSON the run's machines and settings."""

from __future__ import annotations

import csv
import io
import json

from bench.measuring.cell import EXPORT_LEGACY_KEYS, with_legacy_keys
from bench.storing.store import Store

FORMATS = ("csv", "json")


def export_run(run: dict, fmt: str) -> tuple[str, int]:
    """The run (as ``bench.reading.runs.all_runs`` gives it) in ``fmt``, and how many measurements it holds."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    store = Store(run["db"])
    try:
        rows = store.measurements([run["run_id"]])
        machines = store.machines(run["run_id"])  # each machine that measured, with its manifest
    finally:
        store.close()
    # "case_name" as earlier versions wrote the case, for scripts that read it.
    rows = [with_legacy_keys(r, EXPORT_LEGACY_KEYS) for r in rows]
    if fmt == "json":
        meta = {k: run[k] for k in ("run_id", "name", "started", "finished", "status", "machine", "versions")}
        run_meta = {**meta, "threads": run["threads"], "peaks": run["peaks"], "machines": machines}
        return json.dumps({"run": run_meta, "measurements": rows}, indent=1, default=str), len(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["run_id"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    return buffer.getvalue(), len(rows)
