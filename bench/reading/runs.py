"""The runs of one or more results stores, and finding one by id, prefix or name."""

from __future__ import annotations

from pathlib import Path

from bench.storing.store import Store


def all_runs(dbs: list[str | Path]) -> list[dict]:
    """Every run of every store, in the order they were started; each knows its db."""
    runs = []
    for db in dbs:
        store = Store(db)
        try:
            for run in store.runs():
                run["db"] = str(db)
                run["measurements"] = store.db.execute(
                    "SELECT COUNT(*) FROM measurements WHERE run_id=?", (run["run_id"],)
                ).fetchone()[0]
                runs.append(run)
        finally:
            store.close()
    return sorted(runs, key=lambda r: r["started"])


def find_run(runs: list[dict], ref: str) -> dict:
    """A run by id, unique id prefix, or name (the latest of that name);
    'latest' and 'previous' name the last two runs that hold measurements."""
    measured = [r for r in runs if r["measurements"]]
    if ref in ("latest", "previous"):
        index = -1 if ref == "latest" else -2
        if len(measured) < -index:
            raise KeyError(f"there is no {ref} run: the stores hold {len(measured)} run(s) with measurements")
        return measured[index]
    exact = [r for r in runs if r["run_id"] == ref]
    if exact:
        return exact[0]
    named = [r for r in runs if r["name"] == ref]
    if named:
        return named[-1]
    prefixed = [r for r in runs if r["run_id"].startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise KeyError(f"run {ref!r} is ambiguous: {', '.join(r['run_id'] for r in prefixed)}")
    raise KeyError(f"no run {ref!r}; list them with `python -m bench runs`")


def run_summary(run: dict) -> dict:
    machine = run.get("machine") or {}
    return {
        "run_id": run["run_id"],
        "name": run.get("name"),
        "started": run["started"],
        "finished": run.get("finished"),
        "status": run["status"],
        "machine": machine,
        "git_commit": run.get("git_commit"),
        "measurements": run["measurements"],
        "db": run["db"],
    }


def measurements(run: dict) -> list[dict]:
    """The run's measurements, from its store."""
    store = Store(run["db"])
    try:
        return store.measurements([run["run_id"]])
    finally:
        store.close()
