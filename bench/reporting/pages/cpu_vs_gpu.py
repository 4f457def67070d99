"""CPU against GPU, per op: the best CPU implementation of each case against
every GPU implementation, kernel alone and end to end (kernel + copying the
inputs to the device + copying the result back); the problem size from which
the GPU wins; its speedup per case.

Built from the merged report frame (bench/reporting/frame.py), so a CPU
box's store and a GPU box's store compare on one page.  Every GPU figure
carries the name of the device it was measured on.  Its section of the
index: each op's crossovers, or why there are none.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

from bench.reporting import common
from bench.reporting.page import Page, Report, register


# -- the crossover ---------------------------------------------------------------------
@dataclasses.dataclass
class Crossover:
    """Where the GPU starts to win over the CPU across measured sizes.

    ``kind``: "always" (faster at every size measured on both), "never"
    (slower at every one), "crossover" (slower below a size, faster at every
    size from it on), "mixed" (no such single size), "none" (no size measured
    on both).  ``size`` is where the two time curves cross, interpolated on
    log-log axes between ``below`` (the last case the GPU loses) and
    ``above`` (the first of the cases it wins from then on).
    """

    kind: str
    text: str
    size: float | None = None
    below: str | None = None
    above: str | None = None


def crossover(points: list[tuple[float, str, float, float]]) -> Crossover:
    """``points``: (problem size, case name, CPU seconds, GPU seconds) at the
    sizes both measured.  A tie counts as the GPU not winning."""
    points = sorted(points)
    if not points:
        return Crossover("none", "no size measured on both CPU and GPU")
    wins = [gpu < cpu for _, _, cpu, gpu in points]
    first, last = points[0][1], points[-1][1]
    span = f"at the one size measured on both ({first})" if len(points) == 1 else f"from {first} to {last}"
    if all(wins):
        return Crossover("always", f"always: the GPU is faster at every measured size, {span}")
    if not any(wins):
        return Crossover("never", f"never in the measured range: the GPU is slower {span}")
    if not wins[-1]:
        faster = ", ".join(name for (_, name, _, _), won in zip(points, wins) if won)
        return Crossover("mixed", f"no single crossover: the GPU is faster only at {faster}, slower at {last}")
    start = len(wins) - 1
    while wins[start - 1]:
        start -= 1
    (s_a, below, cpu_a, gpu_a), (s_b, above, cpu_b, gpu_b) = points[start - 1], points[start]
    size = _log_crossing(s_a, gpu_a / cpu_a, s_b, gpu_b / cpu_b)
    text = f"size ≈ {size:.3g}: the GPU is slower at {below} and faster from {above} on"
    if any(wins[: start - 1]):
        earlier = ", ".join(name for (_, name, _, _), won in zip(points[: start - 1], wins) if won)
        return Crossover("mixed", text + f" (also faster at {earlier})", size, below, above)
    return Crossover("crossover", text, size, below, above)


def _log_crossing(size_a: float, ratio_a: float, size_b: float, ratio_b: float) -> float:
    """The size where the GPU/CPU time ratio reaches 1, on the straight line
    through the two points in log-log coordinates (ratio_a >= 1 > ratio_b)."""
    if size_a <= 0 or size_b <= size_a or ratio_a <= 0 or ratio_b <= 0:
        return size_b
    y_a, y_b = math.log(ratio_a), math.log(ratio_b)
    x_a, x_b = math.log(size_a), math.log(size_b)
    return math.exp(x_a + y_a * (x_b - x_a) / (y_a - y_b))


# -- the comparison table ------------------------------------------------------------------
COLUMNS = [
    "dtype",
    "family",
    "case",
    "size",
    "cpu_impl",
    "cpu_s",
    "cpu_machine",
    "gpu_impl",
    "gpu_device",
    "kernel_s",
    "h2d_s",
    "d2h_s",
    "end_to_end_s",
    "speedup_kernel",
    "speedup_end_to_end",
]


def comparison(frame: pd.DataFrame, op: str) -> pd.DataFrame:
    """One row per (case, dtype, GPU implementation) where both the CPU and
    that GPU implementation have a correct measurement: the fastest CPU
    implementation of the case, the GPU's kernel time, transfers, end-to-end
    time, and the speedups best CPU ÷ GPU."""
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    ok = frame[(frame["op"] == op) & (frame["status"] == "ok")]
    cpu, gpu = ok[ok["device"] == "cpu"], ok[ok["device"] == "cuda"]
    if cpu.empty or gpu.empty:
        return pd.DataFrame(columns=COLUMNS)
    best_cpu = cpu.loc[cpu.groupby(["case", "dtype"])["median_s"].idxmin()].set_index(["case", "dtype"])
    rows = []
    for _, g in gpu.iterrows():
        key = (g["case"], g["dtype"])
        if key not in best_cpu.index:
            continue
        c = best_cpu.loc[key]
        transfers = g["h2d_s"] + g["d2h_s"] if pd.notna(g["h2d_s"]) and pd.notna(g["d2h_s"]) else math.nan
        end_to_end = g["median_s"] + transfers
        rows.append(
            {
                "dtype": g["dtype"],
                "family": g["family"],
                "case": g["case"],
                "size": g["size"],
                "cpu_impl": c["impl"],
                "cpu_s": c["median_s"],
                "cpu_machine": c["measured_on"],
                "gpu_impl": g["impl"],
                "gpu_device": g["measured_on"],
                "kernel_s": g["median_s"],
                "h2d_s": g["h2d_s"],
                "d2h_s": g["d2h_s"],
                "end_to_end_s": end_to_end,
                "speedup_kernel": c["median_s"] / g["median_s"],
                "speedup_end_to_end": c["median_s"] / end_to_end,
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("size", "cpu_s", "kernel_s", "h2d_s", "d2h_s", "end_to_end_s", "speedup_kernel"):
        table[column] = table[column].astype(float)
    table["speedup_end_to_end"] = table["speedup_end_to_end"].astype(float)
    return table.sort_values(["dtype", "family", "gpu_impl", "size", "case"]).reset_index(drop=True)


def crossovers(table: pd.DataFrame) -> list[dict]:
    """Per (dtype, family, GPU implementation): the crossover of the kernel
    alone and of the end-to-end time."""
    out = []
    for (dtype, family, impl, device), part in table.groupby(["dtype", "family", "gpu_impl", "gpu_device"], sort=True):
        part = part.sort_values("size")
        sized = part[part["size"].notna()]  # a case without a size has no place on the size axis
        kernel = [(r.size, r.case, r.cpu_s, r.kernel_s) for r in sized.itertuples()]
        whole = [
            (r.size, r.case, r.cpu_s, r.end_to_end_s) for r in sized.itertuples() if not math.isnan(r.end_to_end_s)
        ]
        largest = (sized if not sized.empty else part).iloc[-1]
        out.append(
            {
                "dtype": dtype,
                "family": family,
                "gpu_impl": impl,
                "gpu_device": device,
                "kernel": crossover(kernel),
                "end_to_end": crossover(whole) if whole else Crossover("none", "transfers not measured"),
                "largest": largest,
            }
        )
    return out


# -- text ---------------------------------------------------------------------------------------
def _peaks_text(runs: list[dict]) -> list[str]:
    lines = []
    for run in runs:
        gpu_peaks = (run.get("peaks") or {}).get("gpu")
        if gpu_peaks:
            lines.append(
                f"{gpu_peaks.get('device') or common.machine_label(run, 'cuda')} (run {run['run_id']}): "
                f"{gpu_peaks['gemm_gflops'] / 1e3:.3g} TFLOP/s dense float32 GEMM (TF32 off), "
                f"{gpu_peaks['bandwidth_gbps']:.4g} GB/s device-memory copy"
            )
    return lines


def _crossover_rows(found: list[dict], op: str | None = None) -> list[list[str]]:
    rows = []
    for item in found:
        largest = item["largest"]
        rows.append(
            [
                *([op] if op else []),
                item["dtype"],
                item["family"] or "-",
                item["gpu_impl"],
                item["gpu_device"],
                item["kernel"].text,
                item["end_to_end"].text,
                f"{largest['case']}: {common.fmt_num(largest['speedup_kernel'], 3, '×')} kernel, "
                f"{common.fmt_num(largest['speedup_end_to_end'], 3, '×') or '-'} end to end",
            ]
        )
    return rows


CROSSOVER_HEADERS = [
    "dtype",
    "family",
    "GPU implementation",
    "device",
    "GPU faster from (kernel only)",
    "GPU faster from (end to end)",
    "speedup at the largest size",
]


def _case_rows(table: pd.DataFrame) -> list[list[str]]:
    fmt, num = common.fmt_time, common.fmt_num
    return [
        [
            r["case"],
            r["dtype"],
            r["gpu_impl"],
            r["gpu_device"],
            f"{r['cpu_impl']} {fmt(r['cpu_s'])}",
            fmt(r["kernel_s"]),
            fmt(r["h2d_s"]),
            fmt(r["d2h_s"]),
            fmt(r["end_to_end_s"]),
            num(r["speedup_kernel"], 3, "×"),
            num(r["speedup_end_to_end"], 3, "×"),
            r["cpu_machine"],
        ]
        for _, r in table.iterrows()
    ]


CASE_HEADERS = [
    "case",
    "dtype",
    "GPU implementation",
    "device",
    "best CPU",
    "GPU kernel",
    "h2d",
    "d2h",
    "GPU end to end",
    "speedup, kernel",
    "speedup, end to end",
    "CPU measured on",
]


def _cuda_states(frame: pd.DataFrame, op: str) -> list[str]:
    """What the stores hold for the op's cuda implementations, if anything."""
    part = frame[(frame["op"] == op) & (frame["device"] == "cuda")] if not frame.empty else frame
    return sorted(
        {f"{r['impl']}: {r['status']}" + (f" ({r['error']})" if r["error"] else "") for _, r in part.iterrows()}
    )


# -- plots -----------------------------------------------------------------------------------
def plot(table: pd.DataFrame, op: str, out_dir: Path) -> list[str]:
    """Per dtype, one panel per case family: time against problem size on
    log-log axes, the best CPU implementation of each case (black) against
    each GPU implementation, its kernel alone (dashed) and end to end
    (solid, same colour).  Returns the image file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for dtype, by_dtype in table.groupby("dtype", sort=True):
        families = sorted(by_dtype["family"].unique())
        fig, axes = plt.subplots(1, len(families), figsize=(5.6 * len(families), 4.0), squeeze=False)
        for ax, family in zip(axes[0], families):
            part = by_dtype[by_dtype["family"] == family]
            cpu = part.drop_duplicates("case").sort_values("size")
            machines = ", ".join(dict.fromkeys(cpu["cpu_machine"]))
            ax.plot(
                cpu["size"],
                cpu["cpu_s"],
                "-",
                color="black",
                marker="o",
                markersize=4,
                linewidth=2.2,
                label=f"best CPU ({machines})",
            )
            colours = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
            for (impl, device), line in part.groupby(["gpu_impl", "gpu_device"], sort=True):
                line = line.sort_values("size")
                colour = next(colours)
                ax.plot(
                    line["size"],
                    line["kernel_s"],
                    "--",
                    color=colour,
                    marker="s",
                    markersize=3,
                    label=f"{impl} on {device}: kernel",
                )
                if line["end_to_end_s"].notna().any():
                    ax.plot(
                        line["size"],
                        line["end_to_end_s"],
                        "-",
                        color=colour,
                        marker="o",
                        markersize=4,
                        label=f"{impl} on {device}: end to end",
                    )
            common.size_axes(ax, f"{op} {family}".strip() + f" ({dtype}): CPU against GPU")
        names.append(common.save_figure(fig, out_dir, f"{op}-cpu-vs-gpu-{dtype}.png"))
    return names


# -- the page ------------------------------------------------------------------------------------
def _has_ok(frame: pd.DataFrame, device: str, op: str | None = None) -> bool:
    if frame.empty:
        return False
    rows = (frame["device"] == device) & (frame["status"] == "ok")
    return bool((rows & (frame["op"] == op)).any() if op else rows.any())


@register
class CpuVsGpuPage(Page):
    name = "cpu_vs_gpu"
    order = 20

    def href(self, op=None):
        return f"{op}-cpu-vs-gpu.html" if op else None

    def write(self, report: Report) -> list[Path]:
        written = []
        for op in report.ops:
            written += self._write_op(report, op)
        return written

    def _write_op(self, report: Report, op: str) -> list[Path]:
        """The op's CPU-against-GPU page (and its CSV and plots)."""
        frame, out = report.frame, report.out_dir
        table = comparison(frame, op)
        context = {
            "op": op,
            "op_page": report.href("op", op),
            "has_table": not table.empty,
            "has_gpu": _has_ok(frame, "cuda", op),
            "has_cpu": _has_ok(frame, "cpu", op),
            "cuda_states": _cuda_states(frame, op),
        }
        written = []
        if not table.empty:
            gpu_runs = report.runs_of(frame[(frame["op"] == op) & (frame["device"] == "cuda")])
            images = plot(table, op, report.plots_dir)
            context |= {
                "crossover_headers": CROSSOVER_HEADERS,
                "crossovers": _crossover_rows(crossovers(table)),
                "images": images,
                "case_headers": CASE_HEADERS,
                "cases": _case_rows(table),
                "devices": [f"{common.gpu_summary(r.get('machine') or {})} (run {r['run_id']})" for r in gpu_runs],
                "peaks": _peaks_text(gpu_runs),
            }
            csv = out / f"{op}-cpu-vs-gpu.csv"
            table.to_csv(csv, index=False)
            written += [csv, *(report.plots_dir / n for n in images)]
        page = common.write_page(out / self.href(op), "cpu_vs_gpu.html", report, **context)
        return [page, *written]

    def index_section(self, report: Report) -> str:
        if not report.ops:
            return ""
        rows, missing = [], []
        if _has_ok(report.frame, "cuda"):
            for op in report.ops:
                found = crossovers(comparison(report.frame, op))
                rows += _crossover_rows(found, op)
                if not found:
                    missing.append(op)
        return common.render(
            "cpu_vs_gpu_index.html",
            has_gpu=_has_ok(report.frame, "cuda"),
            pages=[(self.href(op), op) for op in report.ops],
            headers=["op", *CROSSOVER_HEADERS],
            rows=rows,
            missing=missing,
        )
