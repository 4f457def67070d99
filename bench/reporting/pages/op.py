"""The page of each op (<op>.html, with <op>.md and <op>.csv): every
measurement with its time, spread, speedup over torch, rates, fraction of
peak and error; plots of time against size, speedup heatmaps, the roofline
and the history across runs; the correctness matrix; the runs it came from.
Its section of the index: per case, the fastest correct implementation."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench.measuring.cell import FAILURES, is_baseline
from bench.measuring.peaks import peaks_for
from bench.reporting.common import (
    RUNS_HEADERS,
    file_part,
    fmt_num,
    fmt_time,
    machine_label,
    render,
    runs_rows,
    save_figure,
    size_axes,
    status_label,
    write_page,
)
from bench.reporting.frame import flops_are_work
from bench.reporting.page import Page, Report, register


# -- tables ----------------------------------------------------------------------
def cell_text(row) -> str:
    """What a table cell says: the time if it was measured, else the status."""
    if row["status"] == "ok":
        return fmt_time(row["median_s"])
    return status_label(row["status"])


def op_table(frame: pd.DataFrame, op: str) -> pd.DataFrame:
    """One row per (implementation, device, case, dtype) of an op."""
    rows = frame[frame["op"] == op]
    table = pd.DataFrame(
        {
            "case": rows["case"],
            "dtype": rows["dtype"],
            "implementation": rows["impl"],
            "backend": rows["backend"],
            "device": rows["device"],
            "status": rows["status"],
            "median_s": rows["median_s"],
            "iqr_s": rows["iqr_s"],
            "min_s": rows["min_s"],
            "rounds": rows["rounds"],
            "first_call_s": rows["first_call_s"],
            "h2d_s": rows["h2d_s"],
            "d2h_s": rows["d2h_s"],
            "speedup_vs_torch": rows["speedup"],
            "speedup_low": rows["speedup_low"],
            "speedup_high": rows["speedup_high"],
            "gflops": rows["gflops"],
            "gbps": rows["gbps"],
            "peak_fraction": rows["peak_fraction"],
            "bound": rows["bound"],
            "flops": rows["flops"],
            "performed_flops": rows["performed_flops"],
            "bytes": rows["bytes"],
            "max_abs_err": rows["max_abs_err"],
            "max_rel_err": rows["max_rel_err"],
            "q1_s": rows["q1_s"],
            "q3_s": rows["q3_s"],
            "machine": rows["machine"],
            "measured_on": rows["measured_on"],
            "run_id": rows["run_id"],
            "note": rows["error"],
            "size": rows["size"],
            "family": rows["family"],
            "throughput_items": rows["throughput_items"],
            "throughput_unit": rows["throughput_unit"],
        }
    )
    return table.sort_values(["family", "size", "case", "dtype", "device", "backend", "implementation"])


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _display_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    headers = [
        "case",
        "dtype",
        "implementation",
        "device",
        "median ± IQR/2",
        "vs torch (IQR range)",
        "GFLOP/s",
        "GB/s",
        "of peak",
        "first call",
        "max abs / rel error",
        "rounds",
        "status",
    ]
    if table["throughput_unit"].notna().any():
        headers.insert(headers.index("first call"), "rate")
    if table["h2d_s"].notna().any():  # a GPU run: its copies to and from the device, apart from the kernel
        headers.insert(headers.index("first call"), "h2d + d2h")
    out = []
    for _, r in table.iterrows():
        ok = r["status"] == "ok"
        line = [
            r["case"],
            r["dtype"],
            r["implementation"],
            r["device"],
            f"{fmt_time(r['median_s'])} ± {fmt_time(r['iqr_s'] / 2)}" if ok else status_label(r["status"]),
            _speedup_text(r) if ok else "",
            fmt_num(r["gflops"]) if ok else "",
            fmt_num(r["gbps"]) if ok else "",
            f"{r['peak_fraction']:.0%} {r['bound']}" if ok and pd.notna(r["peak_fraction"]) else "",
            fmt_time(r["first_call_s"]),
            _error_text(r),
            "" if pd.isna(r["rounds"]) or not ok else str(int(r["rounds"])),
            status_label(r["status"]) + (f": {r['note']}" if r["note"] and not ok else ""),
        ]
        if "rate" in headers:
            rate = ""
            if ok and pd.notna(r["throughput_items"]):
                rate = f"{r['throughput_items'] / r['median_s']:.4g} {r['throughput_unit']}/s"
            line.insert(headers.index("rate"), rate)
        if "h2d + d2h" in headers:
            transfers = ""
            if ok and pd.notna(r["h2d_s"]):
                transfers = f"{fmt_time(r['h2d_s'])} + {fmt_time(r['d2h_s'])}"
            line.insert(headers.index("h2d + d2h"), transfers)
        out.append(line)
    return headers, out


def _speedup_text(r) -> str:
    if pd.isna(r["speedup_vs_torch"]):
        return ""
    text = fmt_num(r["speedup_vs_torch"], 3, "×")
    if pd.notna(r["speedup_low"]) and pd.notna(r["speedup_high"]):
        text += f" ({r['speedup_low']:.3g}–{r['speedup_high']:.3g})"
    return text


def _error_text(r) -> str:
    """Largest absolute and relative error against the float64 reference."""
    if pd.isna(r["max_abs_err"]):
        return ""
    rel = "" if pd.isna(r["max_rel_err"]) else f" / {r['max_rel_err']:.1e}"
    return f"{r['max_abs_err']:.1e}{rel}"


# -- plots -----------------------------------------------------------------------
def plot_op(table: pd.DataFrame, op: str, out_dir: Path) -> list[str]:
    """Log-log time against problem size, one line per implementation and
    device, one panel per case family.  Returns the image file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[table["status"] == "ok"]
    if ok.empty:
        return []
    families = sorted(ok["family"].unique())
    dtypes = sorted(ok["dtype"].unique())
    names = []
    for dtype in dtypes:
        fig, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 3.8), squeeze=False)
        for ax, family in zip(axes[0], families):
            part = ok[(ok["family"] == family) & (ok["dtype"] == dtype)]
            # A line per implementation, device and machine (a cluster's run has several machines).
            lines = part.groupby(["implementation", "backend", "device", "machine"], sort=True)
            several = part["machine"].nunique() > 1
            for (impl, backend, device, machine), line in lines:
                line = line.sort_values("size")
                style = "--" if device == "cuda" else "-"
                # Lines name the machine where several measured; GPU lines the device they ran on.
                where = machine if several else device if device == "cpu" else line["measured_on"].iloc[0]
                (handle,) = ax.plot(
                    line["size"],
                    line["median_s"],
                    style,
                    marker="o",
                    markersize=4,
                    label=f"{impl} ({where})",
                    linewidth=2.2 if is_baseline(backend, impl) else 1.4,
                )
                # The band spans the rounds' interquartile range: where bands
                # overlap, the two implementations are not told apart.
                ax.fill_between(
                    line["size"], line["q1_s"], line["q3_s"], color=handle.get_color(), alpha=0.18, linewidth=0
                )
            size_axes(ax, f"{op} {family}".strip() + f" ({dtype})")
        names.append(save_figure(fig, out_dir, f"{op}-{dtype}.png"))
    return names


def plot_roofline(table: pd.DataFrame, op: str, out_dir: Path, runs: list[dict]) -> list[str]:
    """GFLOP/s against arithmetic intensity (FLOPs per byte), under the roof
    min(GEMM peak, intensity x bandwidth) of each machine measured: DRAM's
    bandwidth, and dotted the last-level cache's (the roof of cases whose data
    fits half of it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[(table["status"] == "ok") & table["flops"].gt(0) & table["bytes"].gt(0)]
    with_peaks = [r for r in runs if r.get("peaks") and r["run_id"] in set(ok["run_id"])]
    if ok.empty or not with_peaks or not flops_are_work(op):
        return []
    # Each point at the FLOPs its implementation performs, so a fast
    # algorithm (Winograd) sits under the roof too.
    intensity = ok["performed_flops"] / ok["bytes"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lo, hi = max(intensity.min() / 4, 1e-3), intensity.max() * 4
    devices = set(ok["device"])
    for run in with_peaks:
        for device in ("cpu", "cuda"):
            peaks = peaks_for(run["peaks"], device)
            if not peaks or device not in devices:
                continue
            xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
            ys = [min(peaks["gemm_gflops"], x * peaks["bandwidth_gbps"]) for x in xs]
            ax.plot(xs, ys, color="0.35", linewidth=1.2, linestyle="--" if device == "cuda" else "-")
            if peaks.get("cache_bandwidth_gbps"):  # the roof of cases whose data fits half the last-level cache
                cache = [min(peaks["gemm_gflops"], x * peaks["cache_bandwidth_gbps"]) for x in xs]
                ax.plot(xs, cache, color="0.6", linewidth=1.0, linestyle=":")
                ax.annotate(
                    f"in cache: {peaks['cache_bandwidth_gbps']:.0f} GB/s", (xs[0], cache[0]), fontsize=7, va="bottom"
                )
            ax.annotate(
                f"{machine_label(run, device)}: {peaks['gemm_gflops']:.0f} GFLOP/s, {peaks['bandwidth_gbps']:.0f} GB/s",
                (xs[-1], ys[-1]),
                fontsize=7,
                ha="right",
                va="bottom",
            )
    for (impl, device), part in ok.groupby(["implementation", "device"], sort=True):
        label = impl if len(devices) == 1 else f"{impl} ({device})"
        work = part["performed_flops"]
        ax.scatter(work / part["bytes"], work / part["median_s"] / 1e9, s=22, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity [FLOP/byte]")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"{op}: roofline (every measured case)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"{op}-roofline.png"
    fig.savefig(out_dir / name, dpi=72)
    plt.close(fig)
    return [name]


def plot_heatmap(table: pd.DataFrame, op: str, out_dir: Path) -> list[str]:
    """Speedup over torch, implementation x case, one map per dtype and
    device; cells that hold no time say why (a failure, over budget)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = []
    measured = table[table["status"] != "unavailable"]
    several = measured["machine"].nunique() > 1
    for (dtype, device, machine), part in measured.groupby(["dtype", "device", "machine"], sort=True):
        if part["speedup_vs_torch"].notna().sum() < 2:
            continue
        cases = list(dict.fromkeys(part.sort_values(["family", "size"])["case"]))
        baseline = {i for b, i in zip(part["backend"], part["implementation"]) if is_baseline(b, i)}
        impls_ = sorted(set(part["implementation"]), key=lambda i: (i in baseline, i))
        grid = np.full((len(impls_), len(cases)), np.nan)
        labels = [["" for _ in cases] for _ in impls_]
        for _, r in part.iterrows():
            i, j = impls_.index(r["implementation"]), cases.index(r["case"])
            if r["status"] == "ok" and pd.notna(r["speedup_vs_torch"]):
                grid[i, j] = math.log2(r["speedup_vs_torch"])
                value = r["speedup_vs_torch"]
                labels[i][j] = f"{value:.0f}×" if value >= 10 else f"{value:.2g}×"
            else:
                labels[i][j] = status_label(r["status"]).lower()
        limit = max(1.0, float(np.nanmax(np.abs(grid))))
        fig, ax = plt.subplots(figsize=(max(4.8, 1.6 + 0.95 * len(cases)), 0.9 + 0.42 * len(impls_)))
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#e9ecef")  # grey: no time (a failure, over budget)
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        for i in range(len(impls_)):
            for j in range(len(cases)):
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(cases)), cases, rotation=35, ha="right", fontsize=7)
        ax.set_yticks(range(len(impls_)), impls_, fontsize=7)
        bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
        step = max(1, math.ceil(2 * math.floor(limit) / 8))  # at most ~9 labels
        ticks = list(range(-math.floor(limit), math.floor(limit) + 1, step))
        bar.set_ticks(ticks, labels=[f"{2.0**t:.3g}×" for t in ticks], fontsize=7)
        where = f", {machine}" if several else ""
        ax.set_title(f"{op}: speedup over torch ({dtype}, {device}{where})", fontsize=9)
        fig.tight_layout()
        name = f"{op}-heatmap-{dtype}-{device}" + (f"-{file_part(machine)}" if several else "") + ".png"
        fig.savefig(out_dir / name, dpi=80)
        plt.close(fig)
        names.append(name)
    return names


def plot_history(dbs: list[str | Path], op: str, out_dir: Path) -> list[str]:
    """The op's headline cases (or every case, without headlines) across all
    stored runs, one line per implementation: drift and regressions at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.reading.history import history

    rows = pd.DataFrame(history(dbs, op))
    if rows.empty or rows["run_id"].nunique() < 2:
        return []
    import impls

    try:
        headline = set(impls.spec(op).headline)
    except KeyError:
        headline = set()
    if headline & set(rows["case"]):
        rows = rows[rows["case"].isin(headline)]
    order = list(dict.fromkeys(rows.sort_values("started")["run_id"]))
    panels = list(rows.groupby(["case", "dtype", "device"], sort=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), squeeze=False)
    for ax, ((case, dtype, device), part) in zip(axes[0], panels):
        for impl, line in part.groupby("impl", sort=True):
            xs = [order.index(r) for r in line["run_id"]]
            ax.plot(xs, line["median_s"], marker="o", markersize=3, label=impl)
        ax.set_yscale("log")
        ax.set_xticks(range(len(order)), [r[:8] for r in order], rotation=45, fontsize=6)
        ax.set_title(f"{case} ({dtype}, {device})", fontsize=9)
        ax.set_ylabel("median [s]")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"{op}: medians across stored runs (oldest left)", fontsize=9)
    fig.tight_layout()
    name = f"{op}-history.png"
    fig.savefig(out_dir / name, dpi=72)
    plt.close(fig)
    return [name]


def _fastest_rows(table: pd.DataFrame) -> set:
    """Index labels of the fastest correct row of each case, dtype and device."""
    ok = table[table["status"] == "ok"]
    return set(ok.groupby(["case", "dtype", "device"])["median_s"].idxmin())


def _summary_rows(frame: pd.DataFrame, op: str) -> dict:
    """Per case, dtype and device: the fastest correct implementation, a
    column of its own for each machine where several measured."""
    part = frame[frame["op"] == op]
    machines = sorted(set(part["machine"]))
    if len(machines) > 1:
        headers = ["case", "dtype", "device", *(f"fastest on {m}" for m in machines), "failures"]
    else:
        headers = ["case", "dtype", "device", "fastest correct", "median", "vs torch", "measured on", "failures"]
    rows = []
    for (_, _, case, dtype, device), group in part.groupby(
        ["family", "size", "case", "dtype", "device"], sort=True
    ):
        if (group["status"] == "unavailable").all():
            continue  # nothing could run on this device here; the note below the table says why
        failed = group[group["status"].isin(FAILURES)]
        where = (lambda r: f" on {r['machine']}") if len(machines) > 1 else (lambda r: "")
        failures = ", ".join(f"{r['impl']}: {r['status']}{where(r)}" for _, r in failed.iterrows())
        if len(machines) > 1:
            best = []
            for machine in machines:
                ok = group[(group["status"] == "ok") & (group["machine"] == machine)]
                if ok.empty:
                    best.append("")
                    continue
                w = ok.loc[ok["median_s"].idxmin()]
                speed = f" ({fmt_num(w['speedup'], 3, '× vs torch')})" if pd.notna(w["speedup"]) else ""
                best.append(f"{w['impl']} {fmt_time(w['median_s'])}{speed}")
            rows.append([case, dtype, device, *best, failures])
            continue
        ok = group[group["status"] == "ok"]
        if ok.empty:
            best = ["no correct measurement", "", "", ""]
        else:
            w = ok.loc[ok["median_s"].idxmin()]
            best = [w["impl"], fmt_time(w["median_s"]), fmt_num(w["speedup"], 3, "×"), w["measured_on"]]
        rows.append([case, dtype, device, *best, failures])
    return {"headers": headers, "rows": rows}


def _matrix(frame: pd.DataFrame, op: str) -> dict:
    """Implementation x case: time or status, for the correctness matrix."""
    part = frame[frame["op"] == op].sort_values(["family", "size"])
    cases = list(dict.fromkeys(zip(part["case"], part["dtype"])))
    headers = ["implementation", "device", "backend"] + [f"{c} {d}" for c, d in cases]
    rows, classes = [], []
    for (impl, device, backend), group in part.groupby(["impl", "device", "backend"], sort=False):
        cells = {(r["case"], r["dtype"]): r for _, r in group.iterrows()}
        row = [impl, device, backend]
        cls = ["", "", ""]
        for key in cases:
            r = cells.get(key)
            row.append(cell_text(r) if r is not None else "not run")
            cls.append(r["status"] if r is not None else "unavailable")
        rows.append(row)
        classes.append(cls)
    return {"headers": headers, "rows": rows, "classes": classes}




# -- notes -----------------------------------------------------------------------
def _unavailable_notes(frame: pd.DataFrame, op: str) -> list[str]:
    """One line per device on which no implementation of the op could run,
    else per implementation that could not."""
    part = frame[frame["op"] == op]
    lines = []
    for device, group in part.groupby("device"):
        missing = group[group["status"] == "unavailable"]
        if missing.empty:
            continue
        if len(missing) == len(group):
            lines.append(f"{device}: not measured here ({', '.join(sorted(set(group['error'].dropna())))}).")
            continue
        for impl, rows in missing.groupby("impl"):
            lines.append(f"{impl} on {device}: not measured ({', '.join(sorted(set(rows['error'].dropna())))}).")
    return lines


def _work_notes(frame: pd.DataFrame, op: str) -> list[str]:
    """Which implementations perform fewer FLOPs than the op counts, and what
    that does to their columns."""
    rows = frame[(frame["op"] == op) & (frame["performed_flops"] < frame["flops"].astype(float))]
    if rows.empty:
        return []
    ratios = (rows["performed_flops"] / rows["flops"].astype(float)).groupby(rows["impl"]).agg(["min", "max"])
    span = lambda r: f"{r['min']:.0%}" if f"{r['min']:.0%}" == f"{r['max']:.0%}" else f"{r['min']:.0%}–{r['max']:.0%}"
    parts = [f"{impl} ({span(r)} of them where it does)" for impl, r in ratios.iterrows()]
    return [
        "Fewer FLOPs than the op's cost model: " + ", ".join(parts) + ", with a fast algorithm (e.g. Winograd). "
        "GFLOP/s counts the op's FLOPs for every implementation; fraction of peak and the roofline count the "
        "FLOPs each performs."
    ]


# -- the page --------------------------------------------------------------------
@register
class OpPage(Page):
    name = "op"
    order = 10

    def href(self, op=None):
        return f"{op}.html" if op else None

    def links(self, report):
        return [(self.href(op), op) for op in report.ops]

    def write(self, report: Report) -> list[Path]:
        written = []
        for op in report.ops:
            written += self._write_op(report, op)
        return written

    def _write_op(self, report: Report, op: str) -> list[Path]:
        import impls

        out, plots = report.out_dir, report.plots_dir
        table = op_table(report.frame, op)
        # Cells that could not run here are listed once, under the table, not row by row.
        shown = table[table["status"] != "unavailable"]
        headers, rows = _display_rows(shown)
        fastest = _fastest_rows(table)
        classes = []
        for label, r in shown.iterrows():
            row_cls = ["best" if label in fastest else "" for _ in headers]
            row_cls[headers.index("status")] = r["status"]
            classes.append(row_cls)
        images = {
            "size_plots": plot_op(table, op, plots),
            "roofline": plot_roofline(table, op, plots, report.runs),
            "heatmaps": plot_heatmap(table, op, plots),
            "history": plot_history(report.dbs, op, plots),
        }
        try:
            doc = impls.spec(op).doc
        except KeyError:  # an op only a plugin knew
            doc = ""
        page = write_page(
            out / f"{op}.html",
            "op.html",
            report,
            op=op,
            doc=doc,
            gpu_page=report.href("cpu_vs_gpu", op),
            results={"headers": headers, "rows": rows, "classes": classes},
            work_notes=_work_notes(report.frame, op),
            unavailable=_unavailable_notes(report.frame, op),
            matrix=_matrix(report.frame, op),
            runs_headers=RUNS_HEADERS,
            runs=runs_rows(report.runs_of(table)),
            **images,
        )
        (out / f"{op}.md").write_text(f"# {op}\n\n" + markdown_table(headers, rows))
        table.drop(columns=["family"]).to_csv(out / f"{op}.csv", index=False)
        return [page, out / f"{op}.md", out / f"{op}.csv", *(plots / n for names in images.values() for n in names)]

    def index_section(self, report: Report) -> str:
        return render(
            "op_index.html",
            ops=[
                {
                    "name": op,
                    "href": self.href(op),
                    "summary": _summary_rows(report.frame, op),
                    "unavailable": _unavailable_notes(report.frame, op),
                    "matrix": _matrix(report.frame, op),
                }
                for op in report.ops
            ],
        )
