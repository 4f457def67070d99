"""The harness's GPU side, tested without a GPU.

Every device-specific call of the harness goes through ``bench.measuring.gpu``'s
interface; here a CPU-backed stand-in (``FakeGpu``, with a perf_counter
"event" clock) is installed in its place, and the cupy backend's array
conversion is swapped for NumPy copies so that a test implementation counts
as a CUDA one.  Everything these fakes produce is written under tmp_path
only: no figure from them may reach reports/ or results/.
"""

from __future__ import annotations

import contextlib
import html
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

import impls
from bench.measuring import gpu, machine, timer
from bench.measuring.cell import MeasureSettings
from bench.measuring.peaks import fraction_of_peak, measure_gpu_peaks, peaks_for
from bench.reporting import common, report
from bench.reporting import frame as frame_module
from bench.reporting.pages import cpu_vs_gpu as gpu_report
from bench.runner import RunConfig, run_benchmarks
from bench.storing.store import SCHEMA_VERSION, Store
from impls import backends, registry

ROOT = Path(__file__).resolve().parent.parent
FAKE_NAME = "FakeGPU T-1 (CPU-backed test double)"
FAKE_L2 = 4 * 2**20
LAUNCH_S = 1e-3  # the fake kernel's fixed cost, whatever the size


# -- test doubles ------------------------------------------------------------------------
class PerfCounterClock:
    """'Events' that are host timestamps: right for a device that computes
    synchronously on the host."""

    name = "perf_counter (test double)"

    def __init__(self):
        self.recorded = 0

    def record(self):
        self.recorded += 1
        return time.perf_counter()

    def elapsed(self, start, end):
        return end - start


class FakeGpu(gpu.GpuDevice):
    """A CUDA device as the harness sees one, backed by the CPU. Test-only."""

    def __init__(self):
        self.clocks: dict[str, PerfCounterClock] = {}
        self.flushes = 0
        self._buffer = None

    def info(self):
        return {
            "index": 0,
            "name": FAKE_NAME,
            "capability": "0.0",
            "sms": 1,
            "memory_bytes": 2**30,
            "l2_bytes": FAKE_L2,
            "driver": None,
            "driver_cuda": None,
            "cuda_runtime": None,
            "queried_via": "test double",
        }

    def clock(self, backend):
        return self.clocks.setdefault(backend, PerfCounterClock())

    def probe_clock(self):
        return self.clock("probe")

    def synchronize(self):
        pass

    def l2_flusher(self):
        if self._buffer is None:
            self._buffer = np.empty(self.flush_bytes() // 4, dtype=np.int32)

        def flush():
            self.flushes += 1
            self._buffer.fill(0)

        return flush

    @contextlib.contextmanager
    def fp32_gemm(self, n):
        a, b, out = (np.ones((n, n), np.float32) for _ in range(3))
        yield lambda: np.matmul(a, b, out=out)

    @contextlib.contextmanager
    def device_copy(self, nbytes):
        source, target = np.ones(nbytes // 4, np.float32), np.empty(nbytes // 4, np.float32)
        yield lambda: np.copyto(target, source)


class FakeCudaArrays(backends.Backend):
    """Stands in for the cupy backend: 'device arrays' are NumPy copies, so
    the copies in and out cost what a copy costs on the host."""

    name = "cupy"
    devices = ("cuda",)

    def cuda_reason(self):
        return ""

    def to_native(self, value, device):
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value

    def to_numpy(self, value, dtype):
        return np.array(value, copy=True)


@pytest.fixture
def scratch_registry(monkeypatch):
    impls.ops()
    monkeypatch.setattr(registry, "_IMPLS", dict(registry._IMPLS))


@pytest.fixture
def fake_cuda_impl(monkeypatch, scratch_registry):
    """A box_iou implementation on device "cuda" whose kernel costs a fixed
    LAUNCH_S: its output is computed once, by NumPy, on the first call for
    given inputs, and handed back after the busy wait on later calls."""
    monkeypatch.setitem(backends._BACKENDS, "cupy", FakeCudaArrays())
    computed = {}

    @impls.register("box_iou", backend="cupy", device="cuda", name="fake_gpu_iou")
    def fake_gpu_iou(boxes1, boxes2):
        key = (id(boxes1), id(boxes2))
        if key not in computed or computed[key][0] is not boxes1 or computed[key][1] is not boxes2:
            computed[key] = (boxes1, boxes2, impls.get("box_iou", "numpy").fn(boxes1, boxes2))
        end = time.perf_counter() + LAUNCH_S
        while time.perf_counter() < end:
            pass
        return computed[key][2]

    return impls.get("box_iou", "fake_gpu_iou", "cuda")


CPU_PEAKS = {"gemm_gflops": 100.0, "bandwidth_gbps": 20.0}


def _record(db: Path, config: RunConfig, peaks: dict) -> str:
    store = Store(db)
    run_id, _ = run_benchmarks(store, config, settings={"test": True}, threads={}, peaks=peaks)
    store.close()
    return run_id


# -- CPU store + GPU store -> the CPU-against-GPU report ------------------------------------------
def test_cpu_and_gpu_stores_merge_into_a_cpu_vs_gpu_report(tmp_path, fake_cuda_impl):
    cpu_db, gpu_db, out = tmp_path / "cpu.sqlite", tmp_path / "gpu.sqlite", tmp_path / "reports"
    _record(
        cpu_db,
        RunConfig(ops=["box_iou"], names=["numpy"], devices=["cpu"], settings=MeasureSettings(min_time=0.01)),
        CPU_PEAKS,
    )
    fake = FakeGpu()
    with gpu.installed(fake):
        gpu_peaks = measure_gpu_peaks(0.01, device=fake, gemm_n=64, copy_bytes=2**20)
        config = RunConfig(
            ops=["box_iou"],
            names=["fake_gpu_iou"],
            devices=["cuda"],
            in_process=True,
            settings=MeasureSettings(min_time=0.01),
        )
        gpu_run = _record(gpu_db, config, {**CPU_PEAKS, "gpu": gpu_peaks})

    # What the GPU run stored: the device, kernel times by its clock with the L2 flushed, transfers apart.
    store = Store(gpu_db)
    (run,) = store.runs()
    assert run["machine"]["gpus"][0]["name"] == FAKE_NAME and run["machine"]["gpus"][0]["current"]
    assert run["peaks"]["gpu"]["device"] == FAKE_NAME and run["peaks"]["gpu"]["gemm_gflops"] > 0
    rows = store.measurements([gpu_run])
    store.close()
    assert {r["status"] for r in rows} == {"ok"} and {r["device"] for r in rows} == {"cuda"}
    for r in rows:
        assert r["median_s"] >= LAUNCH_S and r["first_call_s"] > 0
        assert r["h2d_s"] > 0 and r["d2h_s"] > 0
        assert "perf_counter (test double)" in r["timing"] and "L2 flushed" in r["timing"]
    # One event pair per timed call (warm-up calls take none), the L2 flushed before each.
    timed_calls = sum(r["rounds"] * r["number"] for r in rows)
    assert fake.clocks["cupy"].recorded == 2 * timed_calls and fake.flushes == timed_calls
    (cpu_row,) = [r for r in Store(cpu_db).measurements() if r["case"] == "100x100"]
    assert cpu_row["h2d_s"] is None and cpu_row["timing"] == "wall clock (perf_counter)"

    written = report.write_report([cpu_db, gpu_db], out)
    page_path = out / "box_iou-cpu-vs-gpu.html"
    assert page_path in written
    page = page_path.read_text()
    assert FAKE_NAME in page and "No GPU run" not in page
    assert "plots/box_iou-cpu-vs-gpu-float32.png" in page
    assert (out / "plots" / "box_iou-cpu-vs-gpu-float32.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A fixed 1 ms kernel against NumPy's O(N*M) (~65 us at 100x100, ~25 ms at 1000x1000 here): the GPU
    # loses the smallest case and wins from 1000x1000 on, kernel alone and end to end.
    _, frame = frame_module.load([cpu_db, gpu_db])
    table = gpu_report.comparison(frame, "box_iou")
    assert list(table["case"]) == ["100x100", "1000x1000", "4000x4000"]
    assert set(table["cpu_impl"]) == {"numpy"} and set(table["gpu_device"]) == {FAKE_NAME}
    assert (table["end_to_end_s"] == table["kernel_s"] + table["h2d_s"] + table["d2h_s"]).all()
    (found,) = gpu_report.crossovers(table)
    for which in ("kernel", "end_to_end"):
        cross = found[which]
        assert (cross.kind, cross.below, cross.above) == ("crossover", "100x100", "1000x1000")
        assert 100 * 100 < cross.size < 1000 * 1000
        assert html.escape(cross.text) in page
    largest = table.iloc[-1]
    assert largest["speedup_kernel"] == pytest.approx(largest["cpu_s"] / largest["kernel_s"])
    assert largest["speedup_kernel"] > 1 > table.iloc[0]["speedup_kernel"]
    assert common.fmt_num(largest["speedup_kernel"], 3, "×") in page
    assert (out / "box_iou-cpu-vs-gpu.csv").read_text().startswith("dtype,family,case,size,cpu_impl")

    # CUDA measurements are divided by the GPU's peaks, CPU ones by the CPU's.
    cuda_row = frame[frame["device"] == "cuda"].iloc[-1]
    expected, _ = fraction_of_peak(cuda_row["flops"], cuda_row["bytes"], cuda_row["median_s"], gpu_peaks)
    assert cuda_row["peak_fraction"] == pytest.approx(expected)
    assert cuda_row["measured_on"] == FAKE_NAME
    assert FAKE_NAME not in set(frame[frame["device"] == "cpu"]["machine"])

    index = (out / "index.html").read_text()
    assert "CPU against GPU" in index and "box_iou-cpu-vs-gpu.html" in index and FAKE_NAME in index
    op_page = (out / "box_iou.html").read_text()
    assert "h2d + d2h" in op_page and "box_iou-cpu-vs-gpu.html" in op_page


def test_fake_figures_never_reach_the_committed_reports_or_results():
    for folder in (ROOT / "reports", ROOT / "results"):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file() and path.suffix in (".html", ".md", ".csv", ".sqlite"):
                assert b"test double" not in path.read_bytes(), path


def test_report_without_gpu_data_says_so_plainly(tmp_path):
    db, out = tmp_path / "cpu.sqlite", tmp_path / "reports"
    _record(
        db,
        RunConfig(
            ops=["box_iou"], names=["numpy"], devices=["cpu"], quick=True, settings=MeasureSettings(min_time=0.01)
        ),
        CPU_PEAKS,
    )
    report.write_report([db], out)
    page = (out / "box_iou-cpu-vs-gpu.html").read_text()
    assert "No GPU run in these stores" in page and "nox -s bench" in page and "--db" in page
    assert "<img" not in page and not list((out / "plots").glob("*cpu-vs-gpu*"))
    index = (out / "index.html").read_text()
    assert "CPU against GPU" in index and "No GPU run in these stores" in index


def test_unavailable_cuda_rows_are_named_on_the_cpu_vs_gpu_page(tmp_path):
    db, out = tmp_path / "r.sqlite", tmp_path / "reports"
    store = Store(db)
    run_id = store.start_run(machine={"cpu": "c", "gpus": []}, versions={}, threads={}, settings={}, git_commit=None)
    common = dict(op="box_iou", backend="torch", case="100x100", family="", params={}, dtype="float32", size=1e4)
    store.add(run_id, impl="torch", device="cpu", status="ok", median_s=1e-4, **common)
    store.add(run_id, impl="torch", device="cuda", status="unavailable", error="no CUDA device", **common)
    store.close()
    report.write_report([db], out)
    page = (out / "box_iou-cpu-vs-gpu.html").read_text()
    assert "No GPU run in these stores" in page and "torch: unavailable (no CUDA device)" in page


# -- the crossover ------------------------------------------------------------------------------
def test_crossover_interpolates_where_the_time_curves_cross():
    # GPU/CPU ratio 10 at size 10 and 0.1 at size 1000: on log-log axes the ratio reaches 1 at 100.
    cross = gpu_report.crossover([(10.0, "small", 1.0, 10.0), (1000.0, "large", 100.0, 10.0)])
    assert cross.kind == "crossover" and cross.size == pytest.approx(100.0)
    assert (cross.below, cross.above) == ("small", "large")
    assert "faster from large on" in cross.text


def test_crossover_takes_the_last_change_and_sorts_by_size():
    points = [(1e6, "d", 1.0, 0.1), (1e2, "a", 1.0, 2.0), (1e4, "c", 1.0, 0.5), (1e3, "b", 1.0, 1.5)]
    cross = gpu_report.crossover(points)
    assert (cross.kind, cross.below, cross.above) == ("crossover", "b", "c")
    assert 1e3 < cross.size < 1e4


def test_crossover_always_never_mixed_and_none():
    assert gpu_report.crossover([(1, "a", 2.0, 1.0), (2, "b", 2.0, 1.0)]).kind == "always"
    never = gpu_report.crossover([(1, "a", 1.0, 2.0), (2, "b", 1.0, 2.0)])
    assert never.kind == "never" and never.text.startswith("never in the measured range")
    # A tie is not a win.
    assert gpu_report.crossover([(1, "a", 1.0, 1.0)]).kind == "never"
    # Faster in the middle only: no single crossover.
    mixed = gpu_report.crossover([(1, "a", 1.0, 2.0), (2, "b", 1.0, 0.5), (3, "c", 1.0, 2.0)])
    assert mixed.kind == "mixed" and mixed.size is None and "only at b" in mixed.text
    # Faster at the small end too, then slower, then faster from c on.
    mixed = gpu_report.crossover([(1, "a", 1.0, 0.5), (2, "b", 1.0, 2.0), (4, "c", 1.0, 0.5)])
    assert mixed.kind == "mixed" and (mixed.below, mixed.above) == ("b", "c") and "also faster at a" in mixed.text
    assert gpu_report.crossover([]).kind == "none"


# -- the GPU timer ---------------------------------------------------------------------------------
def test_l2_flush_writes_twice_the_l2():
    assert gpu.l2_flush_bytes(50 * 2**20) == 100 * 2**20  # an H100's 50 MiB L2
    assert gpu.l2_flush_bytes(None) == gpu.l2_flush_bytes(0) == gpu.FLUSH_FALLBACK_BYTES
    assert gpu.FLUSH_FALLBACK_BYTES >= 2 * 126 * 10**6  # covers the largest current L2 (B200) twice
    fake = FakeGpu()
    fake.l2_flusher()()
    assert fake._buffer.nbytes == 2 * FAKE_L2 and fake.flushes == 1


class ScriptedClock:
    """A device clock whose time moves only when the test says so."""

    name = "scripted"

    def __init__(self):
        self.now = 0.0

    def record(self):
        return self.now

    def elapsed(self, start, end):
        return end - start


def test_event_timing_excludes_the_flush_between_calls():
    clock = ScriptedClock()
    order = []

    def flush():
        order.append("flush")
        clock.now += 5.0  # a flush far slower than the call: it must not show

    def call():
        order.append("call")
        clock.now += 0.25

    timed = gpu.event_timed_calls(call, clock, flush, sync=lambda: order.append("sync"))
    assert timed(4) == pytest.approx(1.0)
    assert order == ["flush", "call"] * 4 + ["sync"]


def test_a_worker_times_the_copies_without_its_notes_to_the_parent(fake_cuda_impl):
    """In a worker each prepare/to_numpy of a watched implementation sends the
    parent a phase note; the h2d/d2h rounds timed after the check had each
    carried one (a pipe round trip inside every timed copy) and relabelled
    the phase.  Only the first call and the check send notes now."""
    from bench.measuring import worker
    from bench.measuring.measure import CellMeasurer, case_inputs

    class Pipe:
        def __init__(self):
            self.sent = []

        def send(self, message):
            self.sent.append(message)

    spec, pipe = impls.spec("box_iou"), Pipe()
    case = spec.case("100x100")
    inputs = case_inputs(spec, case, "float32", 0)
    data = {"inputs": inputs, "reference": spec.reference(**inputs), "flops": 1.0, "bytes": 1.0, "throughput": None}
    watched = worker._Watched(fake_cuda_impl, pipe, budget=10.0, min_time=0.01, seed=0)
    with gpu.installed(FakeGpu()):
        row = CellMeasurer(MeasureSettings(min_time=0.01)).measure(spec, case, "float32", watched, data).as_row()
    assert row["status"] == "ok" and row["h2d_s"] > 0 and row["d2h_s"] > 0, row
    assert [message[1] for message in pipe.sent] == ["the first call", "checking and timing"]


def test_measure_takes_round_times_from_the_device_clock():
    wall = [0.0]

    def host_clock():
        return wall[0]

    def call():
        wall[0] += 1e-3  # launch and wait, as the host sees it

    def timed_calls(n):
        for _ in range(n):
            call()
        return n * 2e-6  # what the device's events say

    stats = timer.measure(
        call, clock=host_clock, timed_calls=timed_calls, min_time=0.02, warmup_time=0.005, round_time=5e-4
    )
    assert all(t == pytest.approx(2e-6) for t in stats.times)
    assert stats.number == 1  # sized from the warm-up's 1 ms per call on the host clock
    assert stats.rounds * 1e-3 >= 0.02  # min_time is host time spent


def test_kernel_timer_names_its_clock_and_flush():
    fake = FakeGpu()
    with gpu.installed(fake):
        timed, how = gpu.kernel_timer("numba_cuda", lambda: None, lambda: None, l2_flush=True)
        assert how == "perf_counter (test double) per call; L2 flushed before each call (8 MiB written)"
        assert timed(3) >= 0 and fake.flushes == 3 and fake.clocks["numba_cuda"].recorded == 6
        _, how = gpu.kernel_timer("torch", lambda: None, lambda: None, l2_flush=False)
        assert how.endswith("L2 not flushed")
    assert gpu.current() is not fake


def test_each_backend_family_gets_its_own_event_clock():
    assert gpu.clock_for("torch").name == gpu.clock_for("ext").name == "torch.cuda.Event"
    assert gpu.clock_for("cupy").name == "cupy.cuda.Event"
    assert gpu.clock_for("numba_cuda").name == "numba.cuda.event"
    with pytest.raises(KeyError, match="backend 'numpy' has no device clock"):
        gpu.clock_for("numpy")


# -- machine details and peaks ------------------------------------------------------------------------
def test_machine_details_come_from_the_installed_device():
    with gpu.installed(FakeGpu()):
        (found,) = machine.machine_info()["gpus"]
    assert found["name"] == FAKE_NAME and found["l2_bytes"] == FAKE_L2 and found["current"] is True
    summary = common.gpu_summary({"gpus": [found]})
    assert summary.startswith(FAKE_NAME) and "L2 4 MiB" in summary and "1 SMs" in summary
    assert common.gpu_summary({"gpus": []}) == "no GPU"


def test_driver_and_runtime_versions_are_read_as_text():
    assert gpu.cuda_version_text(12040) == "12.4" and gpu.cuda_version_text(13000) == "13.0"
    assert gpu.cuda_version_text(0) is None
    proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    open_module = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build\n"
    assert gpu.parse_nvidia_driver_version(proprietary) == "550.54.15"
    assert gpu.parse_nvidia_driver_version(open_module) == "570.86.15"
    assert gpu.parse_nvidia_driver_version("no driver here") is None


def test_gpu_peaks_are_measured_through_the_device_interface():
    fake = FakeGpu()
    peaks = measure_gpu_peaks(0.01, device=fake, gemm_n=64, copy_bytes=2**20)
    assert peaks["device"] == FAKE_NAME and peaks["gemm_gflops"] > 0 and peaks["bandwidth_gbps"] > 0
    assert fake.clocks["probe"].recorded > 0  # timed by the device's clock, not the host's
    assert peaks_for({**CPU_PEAKS, "gpu": peaks}, "cuda") is peaks
    assert peaks_for({**CPU_PEAKS, "gpu": peaks}, "cpu")["gemm_gflops"] == CPU_PEAKS["gemm_gflops"]
    assert peaks_for(CPU_PEAKS, "cuda") is None  # never a CPU's peak for a GPU figure


def test_report_labels_cpu_rows_with_the_cpu_on_a_machine_with_a_gpu(tmp_path):
    db = tmp_path / "r.sqlite"
    store = Store(db)
    gpus = [{"name": "Other GPU", "current": False}, {"name": "Used GPU", "current": True}]
    run_id = store.start_run(
        machine={"cpu": "Some CPU", "cores": 4, "gpus": gpus}, versions={}, threads={}, settings={}, git_commit=None
    )
    common = dict(op="box_iou", backend="torch", case="100x100", family="", params={}, dtype="float32", size=1e4)
    store.add(run_id, impl="torch", device="cpu", status="ok", median_s=1e-4, **common)
    store.add(run_id, impl="torch", device="cuda", status="ok", median_s=1e-5, h2d_s=1e-5, d2h_s=2e-5, **common)
    store.close()
    _, frame = frame_module.load([db])
    labels = dict(zip(frame["device"], frame["measured_on"]))
    assert labels == {"cpu": "Some CPU (4 cores)", "cuda": "Used GPU"}


def test_repeated_db_merges_the_latest_measurement_of_each_cell(tmp_path):
    common = dict(op="box_iou", backend="numpy", impl="numpy", device="cpu", family="", params={}, dtype="float32")
    for name, started, medians in (("early", "2024-01-01", (1.0, 2.0)), ("late", "2025-01-01", (3.0, None))):
        store = Store(tmp_path / f"{name}.sqlite")
        run_id = store.start_run(machine={"cpu": name}, versions={}, threads={}, settings={}, git_commit=None)
        store.db.execute("UPDATE runs SET started=? WHERE run_id=?", (started, run_id))
        store.db.commit()
        for case, median in zip(("a", "b"), medians):
            if median is not None:
                store.add(run_id, case=case, size=1.0, status="ok", median_s=median, **common)
        store.close()
    _, frame = frame_module.load([tmp_path / "late.sqlite", tmp_path / "early.sqlite"])
    by_case = dict(zip(frame["case"], zip(frame["median_s"], frame["measured_on"])))
    assert by_case == {"a": (3.0, "late (? cores)"), "b": (2.0, "early (? cores)")}


# -- the store's schema -------------------------------------------------------------------------------
# The measurements table as schema version 1 created it, frozen here: the migration must upgrade it.
SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, name TEXT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    git_commit TEXT, machine TEXT NOT NULL, versions TEXT NOT NULL, threads TEXT NOT NULL,
    settings TEXT NOT NULL, peaks TEXT
);
CREATE TABLE measurements (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id), op TEXT NOT NULL,
    impl TEXT NOT NULL, backend TEXT NOT NULL, device TEXT NOT NULL, case_name TEXT NOT NULL,
    family TEXT NOT NULL, params TEXT NOT NULL, dtype TEXT NOT NULL, size REAL, status TEXT NOT NULL,
    error TEXT, first_call_s REAL,
    min_s REAL, median_s REAL, q1_s REAL, q3_s REAL, iqr_s REAL, mean_s REAL, stdev_s REAL,
    rounds INTEGER, number INTEGER, times TEXT, flops REAL, bytes REAL, throughput_items REAL,
    throughput_unit TEXT, max_abs_err REAL, max_rel_err REAL, rms_err REAL, created TEXT NOT NULL,
    UNIQUE (run_id, op, impl, device, case_name, dtype)
);
PRAGMA user_version=1;
"""


def _v1_store(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1)
        db.execute(
            "INSERT INTO runs (run_id, started, status, machine, versions, threads, settings) VALUES "
            "('old-run', '2024-01-01T00:00:00+00:00', 'complete', '{\"cpu\": \"Old CPU\", \"cores\": 2}', "
            "'{}', '{}', '{}')"
        )
        db.execute(
            "INSERT INTO measurements (run_id, op, impl, backend, device, case_name, family, params, dtype, size, "
            "status, median_s, iqr_s, rounds, times, created) VALUES ('old-run', 'box_iou', 'numpy', 'numpy', "
            "'cpu', '100x100', '', '{}', 'float32', 10000.0, 'ok', 0.00025, 1e-06, 5, '[0.00025]', '2024')"
        )
    db.close()


def test_a_version_1_store_is_migrated_and_reports_correctly(tmp_path):
    path = tmp_path / "v1.sqlite"
    _v1_store(path)
    store = Store(path)
    assert store.migrated_from == 1
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    (old,) = store.measurements()
    assert old["median_s"] == 0.00025 and old["h2d_s"] is None and old["d2h_s"] is None and old["timing"] is None
    assert old["work_flops"] is None  # 2 -> 3: no implementation declared its own FLOPs then
    # 3 -> 4: "case_name" is "case"; the run's machine (no host name stored then) measured its rows.
    assert old["case"] == "100x100" and old["machine"] == "unnamed"
    assert [m["manifest"] for m in store.machines("old-run")] == [{"cpu": "Old CPU", "cores": 2}]
    # The migrated table is the one a new store creates, column for column.
    fresh = Store(tmp_path / "fresh.sqlite")
    columns = 'SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY name'
    for table in ("measurements", "machines"):
        assert store.db.execute(columns, (table,)).fetchall() == fresh.db.execute(columns, (table,)).fetchall()
    unique = "SELECT group_concat(name) FROM pragma_index_info((SELECT name FROM pragma_index_list('measurements')))"
    assert store.db.execute(unique).fetchone() == fresh.db.execute(unique).fetchone()
    fresh.close()
    kept = ("op", "backend", "case", "family", "params", "dtype", "size", "machine")
    store.add("old-run", **{**{k: old[k] for k in kept},
                            "impl": "torch", "device": "cuda", "status": "ok", "median_s": 1e-5,
                            "h2d_s": 2e-5, "d2h_s": 3e-5, "timing": "events"})  # fmt: skip
    store.close()
    assert Store(path).migrated_from is None  # already current: nothing to do the second time

    out = tmp_path / "reports"
    report.write_report([path], out)
    page = (out / "box_iou.html").read_text()
    assert "250 µs" in page and "Old CPU" in page
    csv = (out / "box_iou.csv").read_text()
    assert "h2d_s,d2h_s" in csv.splitlines()[0]


def test_a_newer_store_is_refused_with_the_versions_named(tmp_path):
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match=f"store schema {SCHEMA_VERSION + 1}, this one reads up to {SCHEMA_VERSION}"):
        Store(path)
