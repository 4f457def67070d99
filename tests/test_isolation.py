"""The harness against implementations that crash, hang, raise or lie, and
runs that are killed: every failure is recorded as what it was, the other
implementations are measured normally, and no result is lost or corrupted."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from signalled import default_sigint, wait_or_show_stacks

import impls
from bench.measuring.cell import MeasureSettings
from bench.reporting import frame as frame_module
from bench.reporting import report
from bench.runner import RunConfig, Runner
from bench.storing.liveness import runner_gone, runner_identity
from bench.storing.store import RunBusy, Store
from impls import registry

ROOT = Path(__file__).resolve().parent.parent
KEY = ("op", "impl", "device", "case", "dtype")

# Implementations of nms that fail in every way a new kernel can.
FAILING_NMS = ROOT / "tests" / "plugins" / "failing_nms.py"


def _cli(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _start(*args) -> subprocess.Popen:
    """The CLI in a session of its own, so that its fork server and workers
    can be found by process group afterwards."""
    return subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "bench", *args],  # stacks on SIGABRT (tests/signalled.py)
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )


def _live_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies left to an init that does not reap them excluded)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


def _wait_until_group_gone(pgid: int, seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _live_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _wait_for_measurements(db: Path, count: int, proc: subprocess.Popen, seconds: float = 300) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it was stopped: {proc.stderr.read()}"
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=30) as con:
                    stored = con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
            except sqlite3.OperationalError:  # the tables are not there yet
                stored = 0
            if stored >= count:
                return stored
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} measurements after {seconds} s")


def _cells(db: Path, run_id: str) -> list[tuple]:
    store = Store(db)
    try:
        return sorted(tuple(m[k] for k in KEY) for m in store.measurements([run_id]))
    finally:
        store.close()


# -- the acceptance: failing plugins beside the built-in implementations -----------
def test_crashing_hanging_raising_and_wrong_plugins_are_recorded_and_builtins_measured(tmp_path):
    plugin = FAILING_NMS
    db = tmp_path / "r.sqlite"
    started = time.monotonic()
    result = _cli(
        "run", "--op", "nms", "--plugin", str(plugin), "--quick", "--budget", "2", "--min-time", "0.01",
        "--no-peaks", "--db", str(db), "--json",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_impl: dict[str, list[dict]] = {}
    for r in rows:
        by_impl.setdefault(r["name"], []).append(r)

    builtin = {i.name for i in impls.implementations(op="nms", device="cpu") if i.available}
    assert {"python", "numpy", "numba", "torch"} <= builtin
    for name in builtin:
        cpu = [r for r in by_impl[name] if r["device"] == "cpu"]
        assert len(cpu) == 4 and all(r["status"] == "ok" and r["median_s"] > 0 for r in cpu), cpu

    def statuses(name):
        return [(r["case"], r["status"], r["error"] or "") for r in by_impl[name]]

    assert all(s == "crashed" and "killed by SIGSEGV during the first call" in e for _, s, e in statuses("segfaults"))
    assert all("in segfaults" in e for _, _, e in statuses("segfaults"))  # where: the plugin's own frame
    assert all(s == "crashed" and "killed by SIGABRT" in e for _, s, e in statuses("aborts"))
    assert all(s == "error" and "RuntimeError: kernel exploded" in e for _, s, e in statuses("raises"))
    assert all(s == "mismatch" for _, s, _ in statuses("wrong"))
    # Right on the timed seed's input of a size, wrong on the next seed's: caught by the second check.
    stale = dict((c, (s, e)) for c, s, e in statuses("stale_cache"))
    assert stale["detector-100"][0] == "mismatch" and stale["detector-100"][1].startswith("seed 1:")
    assert all(s == "mismatch" for s, _ in stale.values())
    for name in ("sleeps_forever", "hangs_in_native_code"):
        cases = dict((c, (s, e)) for c, s, e in statuses(name))
        # The smallest case of each family times out; the family's larger cases are skipped.
        for small, large in (("detector-100", "detector-1000"), ("uniform-100", "uniform-1000")):
            assert cases[small][0] == "timeout", cases
            assert "the first call did not finish" in cases[small][1] and "worker killed" in cases[small][1]
            assert f"in {name}" in cases[small][1]
            assert cases[large] == ("over_budget", f"skipped: {small}: timed out")
    assert all(r["median_s"] is None for r in rows if r["status"] != "ok")
    # Two hanging implementations x two families, each stopped at budget + grace (2 + 2 s).
    assert elapsed < 240

    store = Store(db)
    (run,) = store.runs()
    stored = store.measurements([run["run_id"]])
    store.close()
    assert run["status"] == "complete" and len(stored) == len(rows)
    assert {r["status"] for r in stored} == {
        "ok",
        "crashed",
        "timeout",
        "error",
        "mismatch",
        "over_budget",
        "unavailable",
    }
    assert all(r["median_s"] is None and r["times"] == [] for r in stored if r["status"] != "ok")

    out = tmp_path / "report"
    result = _cli("report", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "nms.html").read_text()
    for label in ("CRASHED", "TIMEOUT", "ERROR", "MISMATCH"):
        assert f">{label}" in page, label
    for cls in ("crashed", "timeout", "error", "mismatch"):
        assert f"class='{cls}'" in page, cls
    index = (out / "index.html").read_text()
    assert "segfaults: crashed" in index and "sleeps_forever: timeout" in index and "raises: error" in index
    lines = (out / "nms.md").read_text().splitlines()
    for name in ("segfaults", "aborts", "sleeps_forever", "hangs_in_native_code", "raises", "wrong", "stale_cache"):
        for line in (ln for ln in lines if f"| {name} |" in ln):
            cells = [c.strip() for c in line.split("|")[1:-1]]
            # The median column names the failure; no time, rate or first call anywhere.
            assert cells[4] in ("CRASHED", "TIMEOUT", "ERROR", "MISMATCH", "over budget"), line
            assert cells[5:11] == [""] * 6, line


def test_worker_applies_the_runners_thread_settings(tmp_path):
    plugin = tmp_path / "threads_check.py"
    plugin.write_text(
        textwrap.dedent("""
        import os

        import numba
        import torch

        import impls

        @impls.register("box_iou", backend="numpy", name="checks_threads")
        def checks_threads(boxes1, boxes2):
            seen = (torch.get_num_threads(), numba.get_num_threads(), os.environ.get("OMP_NUM_THREADS"),
                    os.environ.get("OMP_WAIT_POLICY"), os.environ.get("MALLOC_MMAP_THRESHOLD_"))
            if seen != (1, 1, "1", "PASSIVE", str(32 << 20)):
                raise RuntimeError(f"thread settings in the worker: {seen}")
            if os.getpid() == int(os.environ["PLUGIN_FIRST_LOADED_IN"]):
                raise RuntimeError("ran in the runner's process")
            return impls.get("box_iou", "numpy").fn(boxes1, boxes2)

        os.environ.setdefault("PLUGIN_FIRST_LOADED_IN", str(os.getpid()))
    """)
    )
    args = ("run", "--op", "box_iou", "--impl", "checks_threads", "--quick", "--threads", "1", "--min-time", "0.01")
    result = _cli(*args, "--plugin", str(plugin), "--no-peaks", "--json", "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "ok", row["error"]
    # --in-process runs it in the runner itself, which the implementation notices.
    result = _cli(
        *args, "--plugin", str(plugin), "--no-peaks", "--json", "--db", str(tmp_path / "r.sqlite"), "--in-process"
    )
    (row,) = json.loads(result.stdout)
    assert row["status"] == "error" and "ran in the runner's process" in row["error"]


def test_budget_alarm_stops_python_code_inside_a_worker_and_skips_larger_cases(tmp_path, monkeypatch):
    impls.ops()
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))
    plugin = tmp_path / "sleepy.py"
    plugin.write_text(
        textwrap.dedent("""
        import time
        import impls

        @impls.register("box_iou", backend="numpy", name="sleepy")
        def sleepy(boxes1, boxes2):
            time.sleep(0.5 if len(boxes1) > 100 else 0.0)
            return impls.get("box_iou", "numpy").fn(boxes1, boxes2)
    """)
    )
    impls.load_plugin(plugin)  # the parent plans with it; the worker loads it again
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    config = RunConfig(
        ops=["box_iou"], names=["sleepy"], settings=MeasureSettings(budget=0.25, min_time=0.01), plugins=(str(plugin),)
    )
    runner = Runner(store, run_id, config)
    rows = runner.run()
    status = {r["case"]: (r["status"], r.get("error") or "") for r in rows}
    assert status["100x100"][0] == "ok"
    assert status["1000x1000"] == ("over_budget", "stopped after 0.25 s, the time budget")
    assert status["4000x4000"][0] == "over_budget" and status["4000x4000"][1].startswith("skipped: 1000x1000")
    assert len(runner.executor.worker_startups) == 1  # one worker for the implementation's every case


def test_an_implementation_that_raised_gets_a_fresh_process_for_its_next_case(tmp_path, monkeypatch):
    # The CPU stand-in for a CUDA error, which poisons its process's context for good.
    impls.ops()
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))
    plugin = tmp_path / "poisons.py"
    plugin.write_text(
        textwrap.dedent("""
        import impls

        _poisoned = []

        @impls.register("nms", backend="numpy", name="poisons")
        def poisons(boxes, scores, iou_threshold, score_threshold=None):
            if _poisoned:
                raise RuntimeError("still poisoned by an earlier call")
            _poisoned.append(True)
            raise RuntimeError("illegal memory access")
    """)
    )
    impls.load_plugin(plugin)
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    config = RunConfig(ops=["nms"], names=["poisons"], quick=True, plugins=(str(plugin),))
    rows = Runner(store, run_id, config).run()
    assert len(rows) == 4 and all("RuntimeError: illegal memory access" in r["error"] for r in rows)
    config.in_process = True  # one process: the later cases inherit the damage
    rows = Runner(store, run_id, config).run()
    assert sum("still poisoned" in r["error"] for r in rows) == 3


def test_a_worker_cannot_see_implementations_registered_only_in_the_parent(tmp_path, monkeypatch):
    impls.ops()
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))

    @impls.register("box_iou", backend="numpy", name="parent_only")
    def parent_only(boxes1, boxes2):
        return impls.get("box_iou", "numpy").fn(boxes1, boxes2)

    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    (row,) = Runner(store, run_id, RunConfig(ops=["box_iou"], names=["parent_only"], quick=True)).run()
    assert row["status"] == "error" and "not registered in a worker process" in row["error"]


def test_second_seed_check_turns_a_lucky_answer_into_a_mismatch_without_times(tmp_path, monkeypatch):
    impls.ops()
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))
    first_inputs = {}

    @impls.register("box_iou", backend="numpy", name="memorised")
    def memorised(boxes1, boxes2):
        answer = impls.get("box_iou", "numpy").fn(boxes1, boxes2)
        return first_inputs.setdefault(len(boxes1), answer)

    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    config = RunConfig(
        ops=["box_iou"],
        names=["memorised", "numpy"],
        quick=True,
        in_process=True,
        settings=MeasureSettings(min_time=0.01),
    )
    rows = {r["impl"]: r for r in Runner(store, run_id, config).run()}
    assert rows["numpy"]["status"] == "ok"
    assert rows["memorised"]["status"] == "mismatch" and rows["memorised"]["error"].startswith("seed 1:")
    assert rows["memorised"]["median_s"] is None and rows["memorised"]["times"] is None
    (stored,) = [m for m in store.measurements([run_id]) if m["impl"] == "memorised"]
    assert stored["median_s"] is None and stored["rounds"] is None and stored["max_abs_err"] > 0


# -- killed runs -----------------------------------------------------------------------------
SELECTION = ("--op", "box_iou", "--op", "nms", "--quick", "--device", "cpu", "--min-time", "0.01", "--no-peaks")


def test_a_run_killed_with_sigkill_resumes_to_the_cells_of_an_uninterrupted_run(tmp_path):
    db = tmp_path / "killed.sqlite"
    proc = _start("run", *SELECTION, "--db", str(db))
    _wait_for_measurements(db, 8, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert _wait_until_group_gone(proc.pid) == []  # no fork server or worker outlives the runner

    store = Store(db)
    (run,) = store.runs()
    run_id = run["run_id"]
    assert run["status"] == "interrupted" and run["stored_status"] == "running"  # its process is gone
    assert run["settings"]["runner"]["pid"] == proc.pid
    partial = _cells(db, run_id)
    store.close()
    result = _cli("runs", "--db", str(db), "--json")
    assert json.loads(result.stdout)[0]["status"] == "interrupted"

    result = _cli("run", "--resume", run_id, "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    resumed = _cells(db, run_id)
    assert set(partial) < set(resumed) and len(resumed) == len(set(resumed))
    assert len(json.loads(result.stdout)) == len(resumed)  # the summary covers the whole run
    store = Store(db)
    (run,) = store.runs()
    assert run["status"] == "complete" and "stored_status" not in run
    assert run["settings"]["runner"]["pid"] != proc.pid and len(run["settings"]["resumed"]) == 1
    assert all(m["status"] == "ok" for m in store.measurements([run_id]))
    store.close()

    whole = tmp_path / "whole.sqlite"
    result = _cli("run", *SELECTION, "--db", str(whole), "--json")
    assert result.returncode == 0, result.stderr
    (whole_run,) = Store(whole).runs()
    assert resumed == _cells(whole, whole_run["run_id"])

    result = _cli("run", "--resume", run_id, "--db", str(db), "--json")  # nothing left to do
    assert result.returncode == 0 and _cells(db, run_id) == resumed


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_marks_the_run_interrupted_and_ends_its_workers(tmp_path, how):
    db = tmp_path / "r.sqlite"
    proc = _start("run", "--op", "nms", "--device", "cpu", "--min-time", "0.01", "--no-peaks", "--db", str(db))
    _wait_for_measurements(db, 3, proc)
    # Within 5 s, whatever the machine is doing: the workers are killed, not
    # waited for (one by one they had taken over 60 s to exit on a busy machine).
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
        assert wait_or_show_stacks(proc, 5) == 128 + signal.SIGTERM
    else:  # a terminal's Ctrl-C reaches the whole process group: workers and fork server leave it to the runner
        os.killpg(proc.pid, signal.SIGINT)
        assert wait_or_show_stacks(proc, 5) == -signal.SIGINT  # ended by the signal, as a shell expects of Ctrl-C
    assert "interrupted" in proc.stderr.read().splitlines()
    assert _wait_until_group_gone(proc.pid) == []
    store = Store(db)
    (run,) = store.runs()
    assert run["status"] == "interrupted" and "stored_status" not in run  # written, not inferred
    assert run["finished"] is not None and len(store.measurements([run["run_id"]])) >= 3
    store.close()


def test_resume_reads_an_older_runs_selection_from_its_command_line(tmp_path):
    from bench.measuring import machine

    store = Store(tmp_path / "r.sqlite")
    argv = ["run", "--op", "box_iou", "--quick", "--device", "cpu", "--min-time", "0.01", "--no-peaks"]
    run_id = store.start_run(
        machine=machine.machine_info(), versions={}, threads={}, settings={"argv": argv}, git_commit=None
    )
    store.finish_run(run_id, "interrupted")
    store.close()
    result = _cli("run", "--resume", run_id, "--db", str(tmp_path / "r.sqlite"), "--json")
    assert result.returncode == 0, result.stderr
    cells = _cells(tmp_path / "r.sqlite", run_id)
    assert {c[:3] for c in cells} == {
        ("box_iou", i.name, "cpu") for i in impls.implementations(op="box_iou", device="cpu")
    }
    assert {c[3] for c in cells} == {"100x100"}
    (run,) = Store(tmp_path / "r.sqlite").runs()
    assert run["status"] == "complete" and run["settings"]["ops"] == ["box_iou"] and run["settings"]["quick"]


def test_resume_refuses_a_run_that_is_still_being_written(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(
        machine={}, versions={}, threads={}, settings={"runner": runner_identity()}, git_commit=None
    )
    store.close()
    result = _cli("run", "--resume", run_id, "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 2 and "still being written" in result.stderr
    store = Store(tmp_path / "r.sqlite")
    with pytest.raises(RunBusy, match="still being written"):  # the claim itself checks too
        store.resume_run(run_id, {"runner": runner_identity()})
    store.finish_run(run_id, "interrupted")
    store.resume_run(run_id, {"runner": runner_identity()})
    assert store.run(run_id)["status"] == "running" and store.run(run_id)["finished"] is None


def test_runner_liveness_tells_a_dead_or_recycled_process_from_a_live_one():
    me = runner_identity()
    assert not runner_gone(me)
    assert runner_gone({**me, "started_ticks": me["started_ticks"] + 1})  # same pid, another process
    assert runner_gone({**me, "boot_id": "another boot"})
    assert not runner_gone({**me, "host": socket.gethostname() + "-elsewhere"})  # cannot tell: not gone
    assert not runner_gone(None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert runner_gone({**me, "pid": child.pid, "started_ticks": None})


# -- two writers ---------------------------------------------------------------------------------
WRITER = """
import pathlib, sys, time
from bench.storing.store import RunBusy, Store

store = Store(sys.argv[1])
go = pathlib.Path(sys.argv[1]).with_name("go")
while not go.exists():  # both writers start together
    time.sleep(0.001)
run_id = store.start_run(machine={}, versions={}, threads={}, settings={"writer": sys.argv[2]}, git_commit=None)
for i in range(int(sys.argv[3])):
    store.add(run_id, op="nms", impl=sys.argv[2], backend="numpy", device="cpu", case=f"c{i}", family="",
              params={"i": i}, dtype="float32", size=float(i), status="ok", median_s=1e-3, times=[1e-3] * 50)
store.finish_run(run_id)
"""


def test_a_store_caught_in_creation_by_another_process_opens(tmp_path):
    """Creating a store commits its tables one statement at a time before it
    sets the schema version: a process opening the file in that moment sees
    our tables at version 0, and must finish the store, not refuse it as
    another program's database (as two runs started together onto one new
    --db would)."""
    import sqlite3

    from bench.storing import store as store_module

    db = tmp_path / "new.sqlite"
    with sqlite3.connect(db) as half_made:
        half_made.executescript(store_module.SCHEMA)  # the tables, no user_version yet
    Store(db).close()
    with sqlite3.connect(db) as made:
        assert made.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION


def test_two_processes_writing_one_store_at_once_both_land_whole(tmp_path):
    db = tmp_path / "shared.sqlite"
    Store(db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, "2000"], env=env, stderr=subprocess.PIPE)
        for name in ("first", "second")
    ]
    time.sleep(1.0)
    (tmp_path / "go").touch()
    for writer in writers:
        assert writer.wait(300) == 0, writer.stderr.read()
    store = Store(db)
    runs = store.runs()
    assert sorted(r["settings"]["writer"] for r in runs) == ["first", "second"]
    for run in runs:
        assert run["status"] == "complete"
        rows = store.measurements([run["run_id"]])
        assert len(rows) == 2000 and {r["impl"] for r in rows} == {run["settings"]["writer"]}
    ids = [m["run_id"] for m in store.measurements()]
    switches = sum(a != b for a, b in zip(ids, ids[1:]))
    assert switches > 10  # the writes really interleaved
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_write_that_finds_the_store_locked_is_retried(monkeypatch):
    from bench.storing import store as store_module

    attempts = []

    def write():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "written"

    assert store_module._retrying(write) == "written" and len(attempts) == 3
    monkeypatch.setattr(store_module, "WRITE_PATIENCE", 0.0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store_module._retrying(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")))
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store_module._retrying(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such table: x")))


def test_two_benchmark_runs_into_one_store_at_once_both_complete(tmp_path):
    db = tmp_path / "shared.sqlite"
    args = ("run", "--op", "box_iou", "--quick", "--device", "cpu", "--min-time", "0.01", "--no-peaks", "--db", str(db))
    runs = [_start(*args) for _ in range(2)]
    for proc in runs:
        assert proc.wait(600) == 0, proc.stderr.read()
    store = Store(db)
    stored = store.runs()
    assert len(stored) == 2 and all(r["status"] == "complete" for r in stored)
    cells = [_cells(db, r["run_id"]) for r in stored]
    assert cells[0] == cells[1] and len(cells[0]) == len(impls.implementations(op="box_iou", device="cpu"))


# -- what readers show ---------------------------------------------------------------------------
def test_no_table_shows_a_time_for_a_failed_measurement(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    base = dict(
        op="box_iou",
        backend="numpy",
        device="cpu",
        case="100x100",
        family="",
        params={},
        dtype="float32",
        size=1e4,
    )
    store.add(run_id, impl="torch", **base, status="ok", median_s=2e-3, iqr_s=1e-4, first_call_s=3e-3, rounds=9)
    # Failures stored with times (a harness bug, or an older harness): still no time anywhere.
    for impl, status in (("numpy", "crashed"), ("numba", "timeout"), ("python", "mismatch"), ("ext", "error")):
        store.add(run_id, impl=impl, **base, status=status, median_s=1e-3, iqr_s=1e-4, first_call_s=1e-3, rounds=9)
    store.finish_run(run_id)
    store.close()
    out = tmp_path / "out"
    report.write_report([tmp_path / "r.sqlite"], out)
    table = (out / "box_iou.md").read_text()
    assert "| torch | cpu | 2 ms ± 50 µs |" in table
    for impl, label in (("numpy", "CRASHED"), ("numba", "TIMEOUT"), ("python", "MISMATCH"), ("ext", "ERROR")):
        (line,) = [ln for ln in table.splitlines() if f"| {impl} |" in ln]
        assert "ms" not in line and "µs" not in line and label in line
    index = (out / "index.html").read_text()
    assert ">torch<" in index and "numpy: crashed" in index and "numba: timeout" in index
    csv = (out / "box_iou.csv").read_text().splitlines()
    failed = [ln for ln in csv if ",numpy," in ln or ",numba," in ln]
    assert failed and all(",0.001," not in ln for ln in failed)
    _, frame = frame_module.load([tmp_path / "r.sqlite"])
    assert np.isnan(frame[frame["impl"] != "torch"]["median_s"]).all()


@pytest.mark.parametrize("status", ["crashed", "timeout"])
def test_store_accepts_the_isolation_statuses(tmp_path, status):
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    store.add(
        run_id, op="nms", impl="x", backend="numpy", device="cpu", case="c", family="", params={},
        dtype="float32", status=status, error="killed by SIGSEGV",
    )  # fmt: skip
    assert store.measurements([run_id])[0]["status"] == status
