"""A cell's figures across every stored run (`bench history`, the report's history plots)."""

from __future__ import annotations

from pathlib import Path

from bench.measuring.cell import CELL_KEY
from bench.reading.runs import all_runs, measurements


def history(dbs: list[str | Path], op: str | None = None) -> list[dict]:
    """Every ok measurement (of one op) across all stored runs, oldest run first."""
    rows = []
    for run in all_runs(dbs):
        if not run["measurements"]:
            continue
        for m in measurements(run):
            if (op is None or m["op"] == op) and m["status"] == "ok":
                rows.append(
                    {
                        "run_id": run["run_id"],
                        "run_name": run.get("name"),
                        "started": run["started"],
                        "git_commit": run.get("git_commit"),
                        **{k: m[k] for k in CELL_KEY},
                        "machine": m["machine"],
                        "median_s": m["median_s"],
                        "iqr_s": m["iqr_s"],
                    }
                )
    return rows
