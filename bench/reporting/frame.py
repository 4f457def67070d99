"""The report's frame: the measurements of the selected runs as one table,
with what every page reads from it (the machine that measured, speedups
over the baseline with their spread, GFLOP/s, GB/s, fraction of peak).

A failed measurement keeps its status and error but no time: every timed
column is blank wherever the status is not ok, so no page, CSV or plot
shows a failure as a time.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench.measuring.cell import CELL_KEY, FAILURES, is_baseline
from bench.measuring.peaks import fraction_of_peak, peaks_for
from bench.reporting.common import machine_label
from bench.storing.store import Store

# Columns that hold a measured time or a figure derived from one.
TIMED_COLUMNS = ("min_s", "median_s", "q1_s", "q3_s", "iqr_s", "mean_s", "stdev_s", "rounds", "number")


def load(dbs: list[str | Path], run_ids: list[str] | None = None) -> tuple[list[dict], pd.DataFrame]:
    """The selected runs (default: each store's latest) and their measurements,
    the latest per (op, implementation, device, case, dtype)."""
    runs, rows = [], []
    for db in dbs:
        store = Store(db)
        try:
            available = store.runs()
            if run_ids:
                chosen = [r for r in available if r["run_id"] in run_ids]
            else:
                chosen = available[-1:]
            for run in chosen:
                run["db"] = str(db)
                run["machines"] = store.machines(run["run_id"])
                runs.append(run)
            rows += store.measurements([r["run_id"] for r in chosen]) if chosen else []
        finally:
            store.close()
    if run_ids:
        missing = set(run_ids) - {r["run_id"] for r in runs}
        if missing:
            raise KeyError(f"no run {', '.join(sorted(missing))} in {', '.join(map(str, dbs))}")
    frame = pd.DataFrame(rows)
    if frame.empty:
        return runs, frame
    started = {r["run_id"]: r["started"] for r in runs}
    frame["started"] = frame["run_id"].map(started)
    failed = frame["status"] != "ok"
    for column in TIMED_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype(float).mask(failed)
    # A failed call's duration is no result either (over budget keeps it: how long before it was stopped).
    frame["first_call_s"] = frame["first_call_s"].astype(float).mask(frame["status"].isin(FAILURES))
    frame = frame.sort_values(["started", "id"]).drop_duplicates(
        [*CELL_KEY, "machine"], keep="last"
    )
    manifests = _manifests(runs)
    own = {r["run_id"]: r["machine"] or {} for r in runs}  # a run that recorded no machines: its own
    several = frame["machine"].nunique() > 1  # a run across a cluster, or stores of several machines
    frame["measured_on"] = [
        (f"{name}: " if several else "") + machine_label({"machine": manifests.get((rid, name), own[rid])}, device)
        for rid, name, device in zip(frame["run_id"], frame["machine"], frame["device"])
    ]
    for column in ("h2d_s", "d2h_s", "timing", "work_flops"):  # absent from a store migrated with no such row yet
        if column not in frame:
            frame[column] = None
    # The FLOPs each measurement performed: its implementation's own count
    # where it declared one (a fast algorithm), the op's otherwise. Fraction of
    # peak and the roofline use these; GFLOP/s keeps the op's count.
    frame["performed_flops"] = frame["work_flops"].astype(float).fillna(frame["flops"].astype(float))
    frame["gflops"] = frame["flops"] / frame["median_s"] / 1e9
    frame["gbps"] = frame["bytes"] / frame["median_s"] / 1e9
    frame["speedup"] = speedups(frame)
    frame["speedup_low"] = speedups(frame, "q1_s", "q3_s")
    frame["speedup_high"] = speedups(frame, "q3_s", "q1_s")
    peaks = {(r["run_id"], m["machine"]): m["peaks"] or r["peaks"] for r in runs for m in r["machines"]}
    run_peaks = {r["run_id"]: r.get("peaks") for r in runs}  # a store written before machines were
    fractions = [
        fraction_of_peak(f, b, t, peaks_for(peaks.get((rid, name), run_peaks.get(rid)), device), flops_are_work(op))
        if status == "ok"
        else (None, None)
        for f, b, t, rid, name, op, status, device in zip(
            frame["performed_flops"],
            frame["bytes"],
            frame["median_s"],
            frame["run_id"],
            frame["machine"],
            frame["op"],
            frame["status"],
            frame["device"],
        )
    ]
    frame["peak_fraction"] = [f for f, _ in fractions]
    frame["bound"] = [b for _, b in fractions]
    return runs, frame


def _manifests(runs: list[dict]) -> dict[tuple, dict]:
    """(run, machine name) -> the manifest of the machine that measured there."""
    return {(r["run_id"], m["machine"]): m["manifest"] or {} for r in runs for m in r["machines"]}


def flops_are_work(op: str) -> bool:
    """Whether the op's FLOPs are its work (a roofline and a fraction of the
    GEMM peak mean something), as its spec says."""
    import impls

    try:
        return impls.spec(op).flops_are_work
    except KeyError:  # an op only a plugin knew
        return True


def speedups(frame: pd.DataFrame, torch_column: str = "median_s", own_column: str = "median_s") -> pd.Series:
    """The baseline's median / this median, on the same case, dtype, device
    and machine. With quartile columns, the ends of the speedup's spread: the
    baseline's first quartile over this one's third is the pessimistic end,
    and vice versa."""
    ok = frame[frame["status"] == "ok"]
    baseline_rows = ok[[is_baseline(b, i) for b, i in zip(ok["backend"], ok["impl"])]]
    torch_times = baseline_rows.set_index(["op", "case", "dtype", "device", "machine"])[torch_column]
    keys = list(zip(frame["op"], frame["case"], frame["dtype"], frame["device"], frame["machine"]))
    baseline = pd.Series([torch_times.get(k, math.nan) for k in keys], index=frame.index)
    return (baseline / frame[own_column]).where(frame["status"] == "ok")
