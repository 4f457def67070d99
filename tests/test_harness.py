"""The harness's own tests: statistics, the store, budgets, failures, plugins,
the CLI and the report, on small real runs."""

from __future__ import annotations

import html
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pytest

import impls
from bench.measuring import timer
from bench.measuring.cell import MeasureSettings
from bench.measuring.measure import BudgetExceeded, call_with_budget
from bench.reporting import frame as frame_module
from bench.reporting import report
from bench.runner import RunConfig, Runner
from bench.storing.store import SCHEMA_VERSION, Store
from impls import registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scratch_registry(monkeypatch):
    """Implementations registered inside a test vanish after it."""
    impls.ops()  # load the built-in ones first
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))


class FakeClock:
    """Advances by a scripted amount per call of the timed function."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_stats_summarise_every_round():
    stats = timer.Stats([4.0, 1.0, 3.0, 2.0, 5.0], number=3)
    assert stats.rounds == 5 and stats.min == 1.0 and stats.median == 3.0
    assert stats.q1 == 2.0 and stats.q3 == 4.0 and stats.iqr == 2.0
    assert stats.mean == 3.0 and abs(stats.stdev - np.std([1, 2, 3, 4, 5], ddof=1)) < 1e-12
    assert stats.summary()["number"] == 3


def test_measure_runs_until_min_time_and_min_rounds():
    clock = FakeClock()

    def call():
        clock.now += 0.01

    stats = timer.measure(call, clock=clock, min_time=0.5, warmup_time=0.05, round_time=0.001, min_rounds=5)
    assert stats.number == 1  # a 10 ms call needs no batching for a 1 ms round
    assert sum(stats.times) * stats.number >= 0.5
    assert all(abs(t - 0.01) < 1e-12 for t in stats.times)


def test_measure_batches_fast_calls_into_rounds():
    clock = FakeClock()

    def call():
        clock.now += 1e-6

    stats = timer.measure(call, clock=clock, min_time=0.01, warmup_time=0.001, round_time=1e-3)
    assert stats.number == 1000
    assert all(abs(t - 1e-6) < 1e-12 for t in stats.times)


def test_measure_stops_at_max_time():
    clock = FakeClock()

    def call():
        clock.now += 2.0

    stats = timer.measure(call, clock=clock, min_time=10, max_time=5, min_rounds=5)
    assert 1 <= stats.rounds <= 3


def test_call_with_budget_interrupts_python_code():
    start = time.monotonic()
    with pytest.raises(BudgetExceeded):
        call_with_budget(lambda: time.sleep(5), 0.2)
    assert time.monotonic() - start < 2


_MALLOC_PROBE = """
import ctypes, sys
fields = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in fields]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] == "pinned":
    from bench.measuring import machine
    machine.pin_allocator()
before = libc.mallinfo2().hblks
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or tuple(map(int, platform.libc_ver()[1].split(".")[:2])) < (2, 33),
    reason="the thresholds pinned are glibc's; the probe reads them through mallinfo2 (glibc 2.33)",
)
def test_pinned_allocator_serves_large_blocks_from_the_heap():
    """By default glibc maps a fresh 4 MB block of its own (page-faulted in on
    every call that allocates one); with the harness's thresholds the heap
    serves it, whatever ran before."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def mapped_blocks(mode: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", _MALLOC_PROBE, mode], env=env, cwd=ROOT, text=True, capture_output=True, check=True
        )
        return int(result.stdout)

    assert mapped_blocks("default") == 1
    assert mapped_blocks("pinned") == 0


def test_store_round_trip(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(
        machine={"cpu": "x"},
        versions={"numpy": "2"},
        threads={"torch": 2},
        settings={"quick": True},
        git_commit="abc",
        name="first",
    )
    store.add(
        run_id,
        op="nms",
        impl="numba",
        backend="numba",
        device="cpu",
        case="c",
        family="f",
        params={"n": 3},
        dtype="float32",
        size=3.0,
        status="ok",
        median_s=1.5,
        times=[1.0, 1.5, 2.0],
    )
    store.finish_run(run_id)
    store.close()

    again = Store(tmp_path / "r.sqlite")
    (run,) = again.runs()
    assert run["run_id"] == run_id and run["status"] == "complete" and run["machine"] == {"cpu": "x"}
    (row,) = again.measurements([run_id])
    assert row["params"] == {"n": 3} and row["times"] == [1.0, 1.5, 2.0] and row["median_s"] == 1.5


def test_store_rejects_unknown_status(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match="status must be one of"):
        store.add(
            "r",
            op="o",
            impl="i",
            backend="b",
            device="cpu",
            case="c",
            family="",
            params={},
            dtype="float32",
            status="fast",
        )


def test_store_refuses_a_newer_schema(tmp_path):
    import sqlite3

    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer Kernel Arena"):
        Store(path)


def _run(tmp_path, config, threads: dict | None = None) -> tuple[Store, str, list[dict]]:
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads=threads or {}, settings={}, git_commit=None)
    rows = Runner(store, run_id, config).run()
    store.finish_run(run_id)
    return store, run_id, rows


def test_slow_implementation_goes_over_budget_and_skips_larger_cases(tmp_path, scratch_registry):
    @impls.register("box_iou", backend="numpy", name="sleepy")
    def sleepy(boxes1, boxes2):
        time.sleep(0.5 if len(boxes1) > 100 else 0.0)
        return impls.get("box_iou", "numpy").fn(boxes1, boxes2)

    config = RunConfig(
        ops=["box_iou"], names=["sleepy"], in_process=True, settings=MeasureSettings(budget=0.25, min_time=0.01)
    )
    _, _, rows = _run(tmp_path, config)
    status = {r["case"]: (r["status"], r.get("error") or "") for r in rows}
    assert status["100x100"][0] == "ok"
    assert status["1000x1000"] == ("over_budget", "stopped after 0.25 s, the time budget")
    assert status["4000x4000"][0] == "over_budget" and status["4000x4000"][1].startswith("skipped: 1000x1000")


def test_wrong_and_failing_implementations_are_failures_not_times(tmp_path, scratch_registry):
    @impls.register("nms", backend="numpy", name="keeps_everything")
    def keeps_everything(boxes, scores, iou_threshold, score_threshold=None):
        return np.argsort(-scores, kind="stable")

    @impls.register("nms", backend="numpy", name="raises")
    def raises(boxes, scores, iou_threshold, score_threshold=None):
        raise RuntimeError("kernel exploded")

    config = RunConfig(
        ops=["nms"],
        names=["keeps_everything", "raises", "numpy"],
        quick=True,
        in_process=True,
        settings=MeasureSettings(min_time=0.01),
    )
    store, run_id, rows = _run(tmp_path, config)
    by_impl = {}
    for r in rows:
        by_impl.setdefault(r["impl"], set()).add(r["status"])
    assert by_impl == {"keeps_everything": {"mismatch"}, "raises": {"error"}, "numpy": {"ok"}}
    stored = store.measurements([run_id])
    assert all(r["median_s"] is None for r in stored if r["status"] != "ok")
    assert any("kernel exploded" in (r["error"] or "") for r in stored if r["impl"] == "raises")


def test_unavailable_implementations_are_recorded_with_their_reason(tmp_path):
    _, _, rows = _run(tmp_path, RunConfig(ops=["box_iou"], devices=["cuda"], quick=True))
    assert rows and all(r["status"] == "unavailable" and r["error"] == "no CUDA device" for r in rows)


def test_plan_gives_small_only_implementations_the_small_cases_only():
    """Pure Python had spent its budget on every large case (over budget in
    the reports); the plan now leaves it out of them, as the matrix does."""
    cells = Runner(None, None, RunConfig(ops=["conv2d"], backends=["python", "numpy"])).cells()
    backends = {}
    for cell in cells:
        backends.setdefault(cell.case, set()).add(impls.get(cell.op, cell.impl, cell.device).backend)
    assert backends["small-asymmetric"] == {"python", "numpy"} and backends["resnet"] == {"numpy"}


def test_report_is_written_from_a_real_run(tmp_path):
    config = RunConfig(
        ops=["box_iou", "nms"],
        backends=["numpy", "numba", "torch"],
        quick=True,
        settings=MeasureSettings(min_time=0.01),
    )
    threads = {"torch": 2, "env": {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}}
    store, run_id, _ = _run(tmp_path, config, threads)
    store.set_peaks(run_id, {"gemm_gflops": 100.0, "bandwidth_gbps": 20.0})
    store.close()
    out = tmp_path / "reports"
    written = report.write_report([tmp_path / "r.sqlite"], out)
    assert (out / "index.html") in written
    index = (out / "index.html").read_text()
    assert "box_iou.html" in index and "nms.html" in index and run_id in index
    assert "malloc mmap threshold 32 MiB, trim threshold 1024 MiB" in index  # the run's allocator settings
    page = (out / "nms.html").read_text()
    assert "plots/nms-float32.png" in page and "detector-1000" in page
    assert (out / "plots" / "nms-float32.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # box_iou's FLOPs are work: a roofline under the stored peaks; nms's are a yardstick: none.
    assert "plots/box_iou-roofline.png" in (out / "box_iou.html").read_text() and "roofline" not in page
    assert "% memory" in (out / "box_iou.md").read_text()
    csv = (out / "box_iou.csv").read_text().splitlines()
    assert csv[0].startswith("case,dtype,implementation") and len(csv) > 3
    assert "| 100x100 | float32 |" in (out / "box_iou.md").read_text()


def test_a_registered_page_is_written_linked_from_every_page_and_summarised_on_the_index(tmp_path):
    """The report's seam for a new page: a class registered with the report
    writes its files, gets its link in every page's navigation bar (escaped)
    and its section on the index, without the report knowing of it."""
    from markupsafe import Markup

    from bench.reporting.page import PAGES, Page, register

    class Notes(Page):
        name, order = "notes", 90

        def href(self, op=None):
            return "notes.html"

        def links(self, report):
            return [("notes.html", "notes <&>")]

        def write(self, report):
            path = report.out_dir / "notes.html"
            path.write_text(f"{len(report.runs)} run(s); index at {report.href('index')}")
            return [path]

        def index_section(self, report):
            return Markup("<h2 id='notes'>Notes</h2>")

    Store(tmp_path / "r.sqlite").close()
    register(Notes)
    try:
        with pytest.raises(ValueError, match="two report pages are named 'notes'"):
            register(Notes)
        written = report.write_report([tmp_path / "r.sqlite"], tmp_path / "out")
    finally:
        PAGES[:] = [p for p in PAGES if p.name != "notes"]
    assert tmp_path / "out" / "notes.html" in written
    assert (tmp_path / "out" / "notes.html").read_text() == "0 run(s); index at index.html"
    index = (tmp_path / "out" / "index.html").read_text()
    assert "<h2 id='notes'>Notes</h2>" in index and "<a href='notes.html'>notes &lt;&amp;&gt;</a>" in index
    assert "No measurements in the selected runs." in index
    assert "notes" not in [p.name for p in report.registered_pages()]


def _cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_cli_list_json_names_every_implementation():
    result = _cli("list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert set(rows[0]) == {"op", "name", "backend", "device", "available", "reason"}
    available = {(r["op"], r["backend"]) for r in rows if r["available"] and r["device"] == "cpu"}
    for op in ("nms", "box_iou"):
        assert {(op, b) for b in ("python", "numpy", "numba", "torch")} <= available


def test_cli_plugin_runs_beside_builtins_and_shows_a_wrong_one_as_mismatch(tmp_path):
    plugin = tmp_path / "my_impls.py"
    plugin.write_text(
        textwrap.dedent("""
        import numpy as np
        import impls

        @impls.register("nms", backend="numpy", name="my_nms")
        def my_nms(boxes, scores, iou_threshold, score_threshold=None):
            return impls.get("nms", "numpy").fn(boxes, scores, iou_threshold, score_threshold)

        @impls.register("nms", backend="numpy", name="my_wrong_nms")
        def my_wrong_nms(boxes, scores, iou_threshold, score_threshold=None):
            return np.arange(len(scores), dtype=np.int64)
    """)
    )
    result = _cli(
        "run",
        "--op",
        "nms",
        "--quick",
        "--plugin",
        str(plugin),
        "--db",
        str(tmp_path / "p.sqlite"),
        "--min-time",
        "0.01",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    status = {}
    for r in rows:
        status.setdefault(r["name"], set()).add(r["status"])
    assert status["my_nms"] == {"ok"} and status["my_wrong_nms"] == {"mismatch"} and status["numba"] == {"ok"}
    assert {"op", "name", "backend", "device", "case", "status", "median_s"} <= set(rows[0])


def test_cli_reports_unknown_op_clearly(tmp_path):
    result = _cli("run", "--op", "fft", "--db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2 and "unknown op 'fft'" in result.stderr


def test_cli_refuses_a_file_that_is_not_a_store_and_leaves_it_as_it_was(tmp_path):
    garbage = tmp_path / "x.sqlite"
    garbage.write_bytes(b"garbage\n")
    foreign = tmp_path / "other.sqlite"  # another program's SQLite database
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = {path: path.read_bytes() for path in (garbage, foreign)}
    for path in (garbage, foreign):
        for args in (
            ["runs"],
            ["report", "--out", str(tmp_path / "out")],
            ["compare", "a", "b"],
            ["history"],
            ["run", "--op", "box_iou", "--backend", "numpy", "--quick", "--no-peaks"],
            ["run", "--resume", "r1"],
        ):
            result = _cli(*args, "--db", str(path))
            assert result.returncode == 2, (args, result.stderr)
            assert result.stderr.strip().splitlines()[-1] == result.stderr.strip().splitlines()[0], result.stderr
            assert f"{path} is " in result.stderr and "not a Kernel Arena results store" in result.stderr
            assert "Traceback" not in result.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite", "x.sqlite"]  # no -wal, -shm, report


def test_budget_prediction_follows_the_power_law_of_smaller_cases():
    from bench.measuring.measure import Progress

    assert Progress().predict(10) is None
    assert Progress(points=[(10, 1e-4)]).predict(1e6) is None  # overhead-bound: no extrapolation
    assert Progress(points=[(10, 1.0)]).predict(20) == pytest.approx(2.0)  # one point: linear
    assert Progress(points=[(100, 0.001), (1000, 0.1)]).predict(10_000) == pytest.approx(10.0)  # quadratic
    assert Progress(points=[(1, 1.0), (2, 100.0)]).predict(4) == pytest.approx(800.0)  # exponent clamped to 3


def test_fraction_of_peak_follows_the_roofline():
    from bench.measuring.peaks import fraction_of_peak

    peaks = {"gemm_gflops": 100.0, "bandwidth_gbps": 10.0}  # balance: 10 FLOP/byte
    # 1 GFLOP over 1 MB (intensity 1000): compute-bound; 50 GFLOP/s achieved is half the roof.
    assert fraction_of_peak(1e9, 1e6, 0.02, peaks) == (pytest.approx(0.5), "compute")
    # 1 MFLOP over 1 GB (intensity 0.001): memory-bound; 5 GB/s achieved is half the roof.
    assert fraction_of_peak(1e6, 1e9, 0.2, peaks) == (pytest.approx(0.5), "memory")
    # A FLOP count that is only a yardstick: bandwidth alone.
    assert fraction_of_peak(1e12, 1e9, 0.2, peaks, flops_are_work=False) == (pytest.approx(0.5), "memory")
    assert fraction_of_peak(1e9, 1e6, 0.02, None) == (None, None)
    # Bytes that fit half the last-level cache stay in it between calls: its bandwidth is their roof.
    cached = {**peaks, "cache_bandwidth_gbps": 40.0, "llc_bytes": 32 * 2**20}
    assert fraction_of_peak(1e6, 1e7, 0.001, cached) == (pytest.approx(0.25), "cache")  # 10 GB/s of 40
    assert fraction_of_peak(1e6, 1e9, 0.2, cached) == (pytest.approx(0.5), "memory")  # 1 GB: DRAM's 10
    assert fraction_of_peak(1e9, 1e7, 0.02, cached) == (pytest.approx(0.5), "compute")  # intensity 100


def test_cli_peaks_reports_gemm_bandwidth_and_overhead(tmp_path):
    result = _cli("peaks", "--json", "--db", str(tmp_path / "p.sqlite"))
    assert result.returncode == 0, result.stderr
    peaks = json.loads(result.stdout)
    assert peaks["gemm_gflops"] > 0 and peaks["bandwidth_gbps"] > 0 and 0 < peaks["harness_overhead_s"] < 1e-3
    from bench.measuring.peaks import last_level_cache_bytes

    if last_level_cache_bytes():  # Linux tells the cache's size: its bandwidth is measured too
        assert peaks["llc_bytes"] == last_level_cache_bytes() and peaks["cache_bandwidth_gbps"] > 0
    (run,) = Store(tmp_path / "p.sqlite").runs()
    assert run["peaks"]["gemm_gflops"] == peaks["gemm_gflops"]


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "workers"])
def test_headline_case_names_the_fastest_correct_non_torch_implementation(in_process):
    from bench.measuring.executors import InProcess, Workers
    from bench.measuring.headline import headline_case

    spec = impls.spec("box_iou")
    peaks = {"gemm_gflops": 100.0, "bandwidth_gbps": 20.0}
    settings = MeasureSettings(budget=10)
    executor = InProcess(settings) if in_process else Workers(settings)
    try:
        result = headline_case(spec, spec.case("100x100"), rounds=5, machine_peaks=peaks, executor=executor)
    finally:
        executor.close()
    assert result["failures"] == {}
    contenders = {n: t for n, t in result["medians"].items() if impls.get("box_iou", n).backend != "torch"}
    assert result["best"] == min(contenders, key=contenders.get)
    assert result["best_s"] == contenders[result["best"]]
    # The median of per-round ratios, inside its interval; near the ratio of the medians.
    assert result["speedup_low"] <= result["speedup"] <= result["speedup_high"]
    assert 0.5 < result["speedup"] / (result["medians"]["torch"] / result["best_s"]) < 2
    # box_iou 100x100 is memory-bound: DRAM's STREAM was timed in the same rounds.
    assert result["bound"] == result["roof"]["bound"] == "memory" and result["roof"]["rate"] > 0
    assert result["fraction_of_peak_low"] <= result["fraction_of_peak"] <= result["fraction_of_peak_high"]
    assert 0 < result["fraction_of_peak"] < 1


def test_headline_fraction_of_peak_is_against_the_roof_timed_in_its_rounds():
    """A roof that runs at a twentieth of the peaks' figure during the rounds
    gives a fraction twenty times the one against the figure: the roof is
    measured with the case, not minutes away."""
    from bench.measuring.executors import InProcess
    from bench.measuring.headline import headline_case

    calls = []

    def slow_stream():  # 1 MB "moved" per ~1 ms call: about 1 GB/s
        calls.append(time.perf_counter())
        time.sleep(1e-3)

    spec = impls.spec("box_iou")
    peaks = {"gemm_gflops": 100.0, "bandwidth_gbps": 20.0}
    executor = InProcess(MeasureSettings(budget=10))
    roofs = {"memory": (slow_stream, 1e-3, "bandwidth_gbps")}
    try:
        result = headline_case(
            spec, spec.case("100x100"), rounds=4, machine_peaks=peaks, executor=executor, names=["numpy"], roofs=roofs
        )
    finally:
        executor.close()
    assert len(calls) >= 1 + 4 * 2  # its first call, then rounds of two calls (ROUND_TIME = 2 ms)
    assert result["roof"]["rate"] < 1.5  # GB/s, as timed in the rounds
    cost = result["cost"]
    against_the_figure = (cost[1] / result["best_s"]) / (peaks["bandwidth_gbps"] * 1e9)
    assert result["fraction_of_peak"] > 10 * against_the_figure


def test_median_interval_brackets_the_median_of_per_round_ratios():
    from bench.measuring.headline import median_interval

    median, low, high = median_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert median == 4.0 and 1.0 <= low < 4.0 < high <= 7.0
    assert median_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert median_interval([1.0, 3.0]) == (2.0, 1.0, 3.0)  # too few rounds to resample: their range


def test_cli_headline_json_has_the_documented_keys():
    result = _cli("headline", "--op", "box_iou", "--rounds", "2", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert {"op", "case", "best", "best_s", "torch_s", "speedup", "fraction_of_peak", "failures"} <= set(row)
    assert {"speedup_low", "speedup_high", "fraction_of_peak_low", "fraction_of_peak_high", "roof"} <= set(row)
    assert row["speedup_low"] <= row["speedup"] <= row["speedup_high"] and row["roof"]["unit"] == "GB/s"
    assert row["case"] == "4000x4000" and row["speedup"] > 0 and row["failures"] == {}


def test_headline_records_plugins_that_crash_hang_raise_or_answer_wrong_and_times_the_rest():
    plugin = Path(__file__).parent / "plugins" / "failing_nms.py"
    names = ("segfaults", "sleeps_forever", "hangs_in_native_code", "raises", "wrong", "numpy", "torch")
    # Only the named implementations take part: the plugin's and two built-in ones.
    result = _cli(
        "headline", "--op", "nms", "--rounds", "2", "--budget", "2", "--json", "--plugin", str(plugin),
        "--threads", "1", *(f"--impl={n}" for n in names),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for row in json.loads(result.stdout):
        failures = {name: f["status"] for name, f in row["failures"].items()}
        assert failures == {
            "segfaults": "crashed",
            "sleeps_forever": "timeout",
            "hangs_in_native_code": "timeout",
            "raises": "error",
            "wrong": "mismatch",
        }, row
        assert "killed by SIGSEGV" in row["failures"]["segfaults"]["error"]
        assert row["best"] == "numpy" and row["best_s"] > 0 and row["torch_s"] > 0


def test_speedups_are_against_the_implementation_named_torch(tmp_path, scratch_registry):
    @impls.register("box_iou", backend="torch", name="torch_variant")
    def torch_variant(boxes1, boxes2):
        return impls.get("box_iou", "torch").fn(boxes1, boxes2)

    config = RunConfig(
        ops=["box_iou"],
        names=["torch", "torch_variant", "numpy"],
        quick=True,
        in_process=True,
        settings=MeasureSettings(min_time=0.01),
    )
    store, run_id, _ = _run(tmp_path, config)
    store.close()
    _, frame = frame_module.load([tmp_path / "r.sqlite"])
    assert frame["speedup"].dtype == float
    baseline = frame[frame["impl"] == "torch"]["median_s"].iloc[0]
    numpy_row = frame[frame["impl"] == "numpy"].iloc[0]
    assert numpy_row["speedup"] == pytest.approx(baseline / numpy_row["median_s"])
    report.write_report([tmp_path / "r.sqlite"], tmp_path / "out")


def test_declared_work_sets_fraction_of_peak_and_roofline_not_gflops(tmp_path, scratch_registry):
    """An implementation that performs fewer FLOPs than the op counts (Winograd)
    declares them: they are stored, its fraction of peak is taken against
    them, GFLOP/s keeps the op's count, and the op page says so."""
    from bench.measuring.peaks import fraction_of_peak

    spec, numpy_conv = impls.spec("conv2d"), impls.get("conv2d", "numpy").fn

    @impls.register("conv2d", backend="numpy", name="half_work", work=lambda **inputs: 0.5 * spec.flops(**inputs))
    def half_work(x, weight, bias, stride, padding, dilation, groups):
        return numpy_conv(x, weight, bias, stride, padding, dilation, groups)

    peaks = {"gemm_gflops": 1e-3, "bandwidth_gbps": 1e3}  # every case compute-bound against these
    store = Store(tmp_path / "r.sqlite")
    run_id = store.start_run(machine={}, versions={}, threads={}, settings={}, git_commit=None)
    store.set_peaks(run_id, peaks)
    config = RunConfig(
        ops=["conv2d"],
        names=["half_work", "numpy"],
        quick=True,
        in_process=True,
        settings=MeasureSettings(min_time=0.01),
    )
    rows = Runner(store, run_id, config).run()
    store.finish_run(run_id)
    store.close()
    declared = [r for r in rows if r["impl"] == "half_work"]
    assert declared and all(r["status"] == "ok" and r["work_flops"] == 0.5 * r["flops"] for r in declared)
    assert all(r.get("work_flops") is None for r in rows if r["impl"] == "numpy")

    _, frame = frame_module.load([tmp_path / "r.sqlite"])
    for _, row in frame[frame["impl"] == "half_work"].iterrows():
        assert row["gflops"] == pytest.approx(row["flops"] / row["median_s"] / 1e9)  # the op's count
        by_work, bound = fraction_of_peak(row["work_flops"], row["bytes"], row["median_s"], peaks)
        assert bound == "compute" and row["peak_fraction"] == pytest.approx(by_work)
        by_op, _ = fraction_of_peak(row["flops"], row["bytes"], row["median_s"], peaks)
        assert row["peak_fraction"] == pytest.approx(0.5 * by_op)
    report.write_report([tmp_path / "r.sqlite"], tmp_path / "out")
    page = html.unescape((tmp_path / "out" / "conv2d.html").read_text())
    assert "Fewer FLOPs than the op's cost model: half_work (50% of them where it does)" in page


def test_run_cluster_without_ray_says_how_to_install_it_and_stores_nothing(tmp_path, monkeypatch, capsys):
    from bench import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    db = tmp_path / "r.sqlite"
    code = cli.main(["run", "--cluster", "auto", "--op", "box_iou", "--quick", "--no-peaks", "--db", str(db)])
    assert code == 2
    assert "--cluster needs Ray: pip install 'kernel-arena[cluster]'" in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}", "no-port-here"])
def test_run_cluster_at_an_address_where_nothing_answers_fails_at_once_and_stores_nothing(
    tmp_path, monkeypatch, capsys, address
):
    """Ray retries a wrong address for minutes; the run says so at once."""
    from bench import cli

    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))  # Ray "installed"; never reached
    with socket.socket() as closed:  # a port nothing listens on: bound, then released
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    db = tmp_path / "r.sqlite"
    started = time.monotonic()
    code = cli.main(["run", "--cluster", address.format(port=port), "--op", "box_iou", "--quick", "--db", str(db)])
    assert code == 2 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    expected = "nothing answers at" if "{port}" in address else "is not 'auto', HOST:PORT or ray://HOST:PORT"
    assert expected in err and err.count("\n") == 1
    assert not db.exists()
