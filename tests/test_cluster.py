"""`python -m bench run --cluster`: a Ray cluster of two nodes started here,
each with its own machine name, measures every selected cell once per node,
never two at once on one node, into one store; failures are recorded as in
a local run; a node lost mid-run leaves a run that --resume completes; a
Ctrl-C ends the run, and its actors, within seconds."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from signalled import default_sigint, wait_or_show_stacks

from bench.storing.store import Store

# Ray otherwise swaps 127.0.0.1 for the host's outward address wherever it
# meets it (read once, when ray is imported): this keeps the test's nodes and
# the runs' drivers, which inherit the variable, on the loopback interface.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")
from ray.cluster_utils import Cluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "tests" / "plugins"
FAST = ("--quick", "--min-time", "0.01", "--no-peaks", "--threads", "1")


def _node(name: str, trace: Path) -> dict:
    # On the loopback address: the test's cluster never listens beyond this machine.
    return {
        "num_cpus": 1,
        "resources": {"kernel_arena": 1},
        "env_vars": {"KERNEL_ARENA_MACHINE": name, "KERNEL_ARENA_TEST_TRACE": str(trace)},
        "node_ip_address": "127.0.0.1",
        "include_dashboard": False,
    }


@pytest.fixture
def cluster(tmp_path):
    trace = tmp_path / "trace.txt"
    made = Cluster(initialize_head=True, head_node_args=_node("node-a", trace))
    made.trace = trace
    made.second = made.add_node(**_node("node-b", trace))
    made.wait_for_nodes()
    try:
        yield made
    finally:
        made.shutdown()


def _cli(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _stored(db: Path) -> tuple[dict, list[dict], list[dict]]:
    store = Store(db)
    try:
        (run,) = store.runs()
        return run, store.measurements([run["run_id"]]), store.machines(run["run_id"])
    finally:
        store.close()


def _cpu_cells(*ops: str, backends: list[str] | None = None) -> set[tuple]:
    """The quick cpu cells a local run selects."""
    from bench.runner import RunConfig, Runner

    config = RunConfig(ops=list(ops), devices=["cpu"], backends=backends, quick=True)
    return {c.key for c in Runner(None, None, config).cells()}


def test_every_cell_once_per_node_never_two_at_once_on_a_node_into_one_store_and_report(cluster, tmp_path):
    db, out = tmp_path / "c.sqlite", tmp_path / "report"
    result = _cli(
        "run", "--cluster", cluster.address, "--op", "box_iou", "--op", "nms", *FAST, "--db", str(db),
        "--plugin", str(PLUGINS / "traced_calls.py"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run, rows, machines = _stored(db)
    assert run["status"] == "complete"
    assert sorted(m["machine"] for m in machines) == ["node-a", "node-b"]
    assert all(m["manifest"]["cores"] and m["threads"] for m in machines)
    cells = _cpu_cells("box_iou", "nms")
    for name in ("node-a", "node-b"):
        mine = [tuple(r[k] for k in ("op", "impl", "device", "case", "dtype")) for r in rows if r["machine"] == name]
        assert sorted(mine) == sorted(cells), name  # every selected cell, exactly once
    assert {r["status"] for r in rows} == {"ok"}

    # Every call of every implementation, as the nodes' workers made them: on
    # one node, each began after the one before it had ended.
    calls: dict[str, list[tuple[float, float]]] = {}
    for line in cluster.trace.read_text().splitlines():
        machine, _pid, start, end = line.split()
        calls.setdefault(machine, []).append((float(start), float(end)))
    assert set(calls) == {"node-a", "node-b"}
    for machine, spans in calls.items():
        spans.sort()
        overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
        assert not overlaps, f"{machine}: calls overlapped: {overlaps[:3]}"

    result = _cli("report", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    index = (out / "index.html").read_text()
    assert "fastest on node-a" in index and "fastest on node-b" in index  # a column per machine
    page = (out / "nms.html").read_text()
    assert "node-a: " in page and "node-b: " in page


def test_failing_plugins_are_recorded_on_every_node_as_in_a_local_run(cluster, tmp_path):
    db = tmp_path / "c.sqlite"
    names = ("segfaults", "sleeps_forever", "raises", "wrong", "numpy")
    result = _cli(
        "run", "--cluster", cluster.address, "--op", "nms", *FAST, "--budget", "2", "--db", str(db), "--json",
        "--plugin", str(PLUGINS / "failing_nms.py"), *(arg for name in names for arg in ("--impl", name)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [r for r in json.loads(result.stdout) if r["device"] == "cpu"]
    for machine in ("node-a", "node-b"):
        status = {}
        for r in rows:
            if r["machine"] == machine:
                status.setdefault(r["impl"], set()).add(r["status"])
        assert status["numpy"] == {"ok"}, machine
        assert status["segfaults"] == {"crashed"}
        assert status["raises"] == {"error"}
        assert status["wrong"] == {"mismatch"}
        assert status["sleeps_forever"] == {"timeout", "over_budget"}  # the larger cases of a family skipped
    crashed = [r for r in rows if r["status"] == "crashed"]
    assert all("killed by SIGSEGV during the first call" in r["error"] for r in crashed)


def _wait_for_rows(db: Path, machine: str, count: int, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early: {proc.communicate()[1][-3000:]}"
        try:
            with sqlite3.connect(db, timeout=30) as con:
                stored = con.execute("SELECT COUNT(*) FROM measurements WHERE machine=?", (machine,)).fetchone()[0]
        except sqlite3.OperationalError:  # no store or no table yet
            stored = 0
        if stored >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{machine} stored fewer than {count} measurements in {seconds} s")


def test_a_node_lost_mid_run_leaves_a_run_that_resume_completes(cluster, tmp_path):
    db = tmp_path / "c.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--cluster", cluster.address, "--op", "box_iou", "--op", "nms",
         *FAST, "--db", str(db), "--backend", "numpy", "--backend", "python", "--backend", "numba"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for_rows(db, "node-b", 2, proc)
    cluster.remove_node(cluster.second, allow_graceful=False)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "node node-b lost" in err and "--resume" in err
    run, rows, _ = _stored(db)
    assert run["status"] == "interrupted"
    cells = _cpu_cells("box_iou", "nms", backends=["numpy", "python", "numba"])
    by_machine = lambda name: sorted(  # noqa: E731
        tuple(r[k] for k in ("op", "impl", "device", "case", "dtype")) for r in rows if r["machine"] == name
    )
    assert by_machine("node-a") == sorted(cells)
    assert 2 <= len(by_machine("node-b")) < len(cells)

    # The node comes back (the same machine, a new Ray node); --resume measures what it lacks.
    cluster.add_node(**_node("node-b", cluster.trace))
    cluster.wait_for_nodes()
    result = _cli("run", "--resume", run["run_id"], "--db", str(db))
    assert result.returncode == 0, result.stderr
    run, rows, _ = _stored(db)
    assert run["status"] == "complete"
    assert by_machine("node-a") == by_machine("node-b") == sorted(cells)  # each cell once per machine


def test_ctrl_c_ends_a_cluster_run_and_its_actors_within_seconds(cluster, tmp_path):
    db = tmp_path / "c.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "bench", "run", "--cluster", cluster.address, "--op", "nms",
         *FAST, "--db", str(db), "--backend", "python"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=default_sigint,
    )  # fmt: skip
    _wait_for_rows(db, "node-a", 1, proc)
    assert len(_processes_named("ray::NodeMeasurer", cluster)) == 2  # one actor a node, measuring
    os.killpg(proc.pid, signal.SIGINT)
    wait_or_show_stacks(proc, 5)
    run, _, _ = _stored(db)
    assert run["status"] == "interrupted"
    # Ray names an actor's process after its class (its workers are children that die with it).
    deadline = time.monotonic() + 30
    while (alive := _processes_named("ray::NodeMeasurer", cluster)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, f"the nodes' actors outlived the run: pids {alive}"


def _processes_named(prefix: str, cluster) -> list[int]:
    """Processes of ``cluster`` (their environment names its trace file: another
    Ray cluster on the machine is not counted) whose command line starts with ``prefix``."""
    marker = f"KERNEL_ARENA_TEST_TRACE={cluster.trace}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and (entry / "cmdline").read_bytes().startswith(prefix.encode())
                and marker in (entry / "environ").read_bytes().split(b"\0")
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
