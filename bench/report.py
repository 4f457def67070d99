"""Reports from the results store: HTML pages, Markdown and CSV tables, plots.

Everything is a plain file that opens from disk: no server, no network, no
JavaScript.  Several stores (a CPU box's, a GPU box's) merge into one report;
every figure names the run, machine and time it came from.
"""

from __future__ import annotations

import datetime
import html
import math
from pathlib import Path

import pandas as pd

from bench.cell import CELL_KEY, FAILURES, is_baseline
from bench.peaks import fraction_of_peak, peaks_for
from bench.report_common import CSS, fmt_num, fmt_time, html_page, html_table, machine_label, save_figure, size_axes
from bench.store import Store

STATUS_LABEL = {
    "ok": "ok",
    "mismatch": "MISMATCH",
    "error": "ERROR",
    "crashed": "CRASHED",
    "timeout": "TIMEOUT",
    "over_budget": "over budget",
    "unavailable": "unavailable",
}
FAILED = FAILURES  # shown as failures wherever a time would be
# Columns that hold a measured time or a figure derived from one: blank
# wherever the status is not ok, so that no table, CSV or plot shows a
# failure as a time.
TIMED_COLUMNS = ("min_s", "median_s", "q1_s", "q3_s", "iqr_s", "mean_s", "stdev_s", "rounds", "number")


def status_label(status: str) -> str:
    return STATUS_LABEL.get(status, str(status).upper())


# -- loading -------------------------------------------------------------------
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
    frame["speedup"] = _speedups(frame)
    frame["speedup_low"] = _speedups(frame, "q1_s", "q3_s")
    frame["speedup_high"] = _speedups(frame, "q3_s", "q1_s")
    peaks = {(r["run_id"], m["machine"]): m["peaks"] or r["peaks"] for r in runs for m in r["machines"]}
    run_peaks = {r["run_id"]: r.get("peaks") for r in runs}  # a store written before machines were
    fractions = [
        fraction_of_peak(f, b, t, peaks_for(peaks.get((rid, name), run_peaks.get(rid)), device), _flops_are_work(op))
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


def _work_note(frame: pd.DataFrame, op: str) -> str:
    """Says which implementations perform fewer FLOPs than the op counts, and
    what that does to their columns."""
    rows = frame[(frame["op"] == op) & (frame["performed_flops"] < frame["flops"].astype(float))]
    if rows.empty:
        return ""
    ratios = (rows["performed_flops"] / rows["flops"].astype(float)).groupby(rows["impl"]).agg(["min", "max"])
    span = lambda r: f"{r['min']:.0%}" if f"{r['min']:.0%}" == f"{r['max']:.0%}" else f"{r['min']:.0%}–{r['max']:.0%}"
    parts = [f"{html.escape(impl)} ({span(r)} of them where it does)" for impl, r in ratios.iterrows()]
    return (
        "<p class='note'>Fewer FLOPs than the op's cost model: "
        + ", ".join(parts)
        + ", with a fast algorithm (e.g. Winograd). GFLOP/s counts the op's FLOPs for every implementation; "
        "fraction of peak and the roofline count the FLOPs each performs.</p>"
    )


def _flops_are_work(op: str) -> bool:
    import impls

    try:
        return impls.spec(op).flops_are_work
    except KeyError:  # an op only a plugin knew
        return True


def _speedups(frame: pd.DataFrame, torch_column: str = "median_s", own_column: str = "median_s") -> pd.Series:
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


# -- formatting ------------------------------------------------------------------
def cell_text(row) -> str:
    """What a table cell says: the time if it was measured, else the status."""
    if row["status"] == "ok":
        return fmt_time(row["median_s"])
    return status_label(row["status"])


# -- tables ----------------------------------------------------------------------
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
    if ok.empty or not with_peaks or not _flops_are_work(op):
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
        name = f"{op}-heatmap-{dtype}-{device}" + (f"-{_file_part(machine)}" if several else "") + ".png"
        fig.savefig(out_dir / name, dpi=80)
        plt.close(fig)
        names.append(name)
    return names


def _file_part(text: str) -> str:
    """``text`` as a safe piece of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def plot_history(dbs: list[str | Path], op: str, out_dir: Path) -> list[str]:
    """The op's headline cases (or every case, without headlines) across all
    stored runs, one line per implementation: drift and regressions at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.compare import history

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


# -- HTML --------------------------------------------------------------------------


def _allocator_text(env: dict) -> str:
    """glibc's thresholds as the run pinned them (bench.machine.pin_allocator); older runs had none."""
    mmap, trim = env.get("MALLOC_MMAP_THRESHOLD_"), env.get("MALLOC_TRIM_THRESHOLD_")
    if not (mmap or trim):
        return ""
    mib = lambda value: f"{int(value) / 2**20:g} MiB" if value and value.isdigit() else (value or "default")
    return f"; malloc mmap threshold {mib(mmap)}, trim threshold {mib(trim)}"


def _runs_html(runs: list[dict]) -> str:
    from bench import gpu_report

    headers = ["run", "started (UTC)", "finished", "status", "machine", "memory", "os", "commit", "threads", "versions"]
    rows = []
    for run in runs:
        # One line per machine that measured in the run (a cluster's nodes), each with its own manifest.
        machines = run.get("machines") or [{"manifest": run["machine"], "threads": run["threads"],
                                            "versions": run["versions"]}]  # fmt: skip
        for node in machines:
            m = node.get("manifest") or {}
            t = node.get("threads") or {}
            v = node.get("versions") or {}
            gpus = gpu_report.gpu_summary(m)
            named = f"{node['machine']}: " if len(machines) > 1 else ""
            rows.append(
                [
                    run["run_id"] + (f" ({run['name']})" if run.get("name") else ""),
                    run["started"],
                    run.get("finished") or "",
                    run["status"],
                    f"{named}{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {gpus}",
                    f"{(m.get('memory_bytes') or 0) / 2**30:.1f} GiB",
                    m.get("os", ""),
                    (run.get("git_commit") or "")[:12],
                    f"torch {t.get('torch')}, numba {t.get('numba')}, BLAS/OpenMP {t.get('native_pools')}"
                    + _allocator_text(t.get("env") or {}),
                    ", ".join(f"{k} {val}" for k, val in v.items() if val),
                ]
            )
    return html_table(headers, rows)


def _badges(group: pd.DataFrame) -> str:
    """Counts of measurements by status, unavailable ones with their reasons."""
    out = []
    for status in ("ok", *FAILED, "over_budget", "unavailable"):
        part = group[group["status"] == status]
        if part.empty:
            continue
        label = "pass" if status == "ok" else status_label(status).lower()
        title = ""
        if status != "ok":
            reasons = sorted(set(part["error"].dropna().map(lambda e: str(e).split(";")[0][:80])))
            title = f" title='{html.escape('; '.join(reasons[:5]), quote=True)}'"
            if status == "unavailable" and reasons:
                label += f" ({html.escape(', '.join(sorted(set(reasons)))[:60])})"
        out.append(f"<span class='badge {status}'{title}>{len(part)} {label}</span>")
    return "".join(out)


def _grid_html(frame: pd.DataFrame, ops: list[str]) -> str:
    """Ops x devices: the implementation fastest on most cases, its speedup
    over torch (geometric mean over those cases), and status badges."""
    devices = sorted(set(frame["device"]))
    head = "<th class='l'>op</th>" + "".join(f"<th class='l'>{html.escape(d)}</th>" for d in devices)
    rows = []
    for op in ops:
        cells = [f"<td class='l'><a href='{op}.html'>{html.escape(op)}</a></td>"]
        for device in devices:
            group = frame[(frame["op"] == op) & (frame["device"] == device)]
            ok = group[group["status"] == "ok"]
            winner = ""
            if not ok.empty:
                wins = ok.loc[ok.groupby(["case", "dtype"])["median_s"].idxmin()]
                name = wins["impl"].value_counts().idxmax()
                speedups = wins[wins["impl"] == name]["speedup"].dropna()
                speed = ""
                if len(speedups):
                    mean = math.exp(sum(math.log(v) for v in speedups) / len(speedups))
                    speed = f" <span class='speedup'>{mean:.3g}× vs torch</span>"
                count = f"fastest on {int((wins['impl'] == name).sum())} of {len(wins)} cases"
                winner = f"<span class='winner'>{html.escape(name)}</span>{speed} <span class='note'>{count}</span><br>"
            cells.append(f"<td class='l'>{winner}{_badges(group)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='grid'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _fastest_rows(table: pd.DataFrame) -> set:
    """Index labels of the fastest correct row of each case, dtype and device."""
    ok = table[table["status"] == "ok"]
    return set(ok.groupby(["case", "dtype", "device"])["median_s"].idxmin())


def _unavailable_note(frame: pd.DataFrame, op: str) -> str:
    """One line per device on which no implementation of the op could run."""
    part = frame[frame["op"] == op]
    lines = []
    for device, group in part.groupby("device"):
        missing = group[group["status"] == "unavailable"]
        if missing.empty:
            continue
        if len(missing) == len(group):
            reasons = ", ".join(sorted(set(group["error"].dropna())))
            lines.append(f"<p class='note'>{html.escape(device)}: not measured here ({html.escape(reasons)}).</p>")
            continue
        for impl, rows in missing.groupby("impl"):
            reasons = ", ".join(sorted(set(rows["error"].dropna())))
            lines.append(
                f"<p class='note'>{html.escape(impl)} on {html.escape(device)}: not measured "
                f"({html.escape(reasons)}).</p>"
            )
    return "".join(lines)


def _summary_rows(frame: pd.DataFrame, op: str) -> tuple[list[str], list[list[str]]]:
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
    return headers, rows


def _matrix(frame: pd.DataFrame, op: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
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
    return headers, rows, classes


def write_report(dbs: list[str | Path], out_dir: Path, run_ids: list[str] | None = None) -> list[Path]:
    from bench import gpu_report

    runs, frame = load(dbs, run_ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    (out_dir / "style.css").write_text(CSS)
    written: list[Path] = []
    ops = [op for op in dict.fromkeys(frame["op"])] if not frame.empty else []
    nav = "<a href='index.html'>index</a>" + "".join(f"<a href='{op}.html'>{op}</a>" for op in ops)
    generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    source = (
        f"Generated {generated} UTC from {len(runs)} run(s) in {', '.join(html.escape(str(d)) for d in dbs)}. "
        "Times are medians over rounds"
    )
    provenance = (
        f"<p class='note'>{source}; speedups are torch's median ÷ the implementation's on the same case, dtype "
        "and device.</p>"
    )

    index = ["<h1>Kernel Arena</h1>", provenance]
    if ops:
        index += [
            "<h2>Summary</h2>",
            "<p class='note'>Per op and device: the implementation fastest on the most cases, its speedup over "
            "stock torch (geometric mean over the cases it wins), and every measurement's status.</p>",
            _grid_html(frame, ops),
        ]
    for op in ops:
        table = op_table(frame, op)
        # Cells that could not run here are listed once, under the table, not row by row.
        shown = table[table["status"] != "unavailable"]
        headers, rows = _display_rows(shown)
        fastest = _fastest_rows(table)
        classes = []
        for label, r in shown.iterrows():
            row_cls = ["best" if label in fastest else "" for _ in headers]
            row_cls[headers.index("status")] = r["status"]
            classes.append(row_cls)
        images = plot_op(table, op, plots_dir)
        roofline = plot_roofline(table, op, plots_dir, runs)
        heatmaps = plot_heatmap(table, op, plots_dir)
        history = plot_history(dbs, op, plots_dir)
        m_headers, m_rows, m_classes = _matrix(frame, op)
        import impls

        try:
            doc = impls.spec(op).doc
        except KeyError:
            doc = ""
        body = [
            f"<h1>{html.escape(op)}</h1>",
            provenance,
            f"<pre class='note'>{html.escape(doc)}</pre>" if doc else "",
            f"<p><a href='{gpu_report.page_name(op)}'>CPU against GPU</a></p>",
            *(["<h2>Speedup over torch</h2>"] if heatmaps else []),
            *(f"<p><img src='plots/{name}' alt='{op} speedup heatmap'></p>" for name in heatmaps),
            "<h2>Time against problem size</h2>",
            "<p class='note'>Lines are medians; bands span the rounds' interquartile range.</p>",
            *(f"<p><img src='plots/{name}' alt='{op} time against problem size'></p>" for name in images),
            "<h2>Results</h2>",
            html_table(headers, rows, classes),
            _work_note(frame, op),
            _unavailable_note(frame, op),
            *(["<h2>Roofline</h2>"] if roofline else []),
            *(f"<p><img src='plots/{name}' alt='{op} roofline'></p>" for name in roofline),
            *(["<h2>History</h2>"] if history else []),
            *(f"<p><img src='plots/{name}' alt='{op} history across runs'></p>" for name in history),
            "<h2>Correctness matrix</h2>",
            html_table(m_headers, m_rows, m_classes),
            "<h2>Runs</h2>",
            _runs_html([r for r in runs if r["run_id"] in set(table["run_id"])]),
        ]
        page = out_dir / f"{op}.html"
        page.write_text(html_page(f"{op} — Kernel Arena", "\n".join(body), nav))
        (out_dir / f"{op}.md").write_text(f"# {op}\n\n" + markdown_table(headers, rows))
        table.drop(columns=["family"]).to_csv(out_dir / f"{op}.csv", index=False)
        written += [page, out_dir / f"{op}.md", out_dir / f"{op}.csv"]
        written += [plots_dir / n for n in images + roofline + heatmaps + history]
        written += gpu_report.write_page(frame, op, runs, out_dir, nav, f"<p class='note'>{source}.</p>")

        index += [
            f"<h2><a href='{op}.html'>{html.escape(op)}</a></h2>",
            html_table(*_summary_rows(frame, op)),
            _unavailable_note(frame, op),
            "<details><summary>correctness matrix</summary>",
            html_table(m_headers, m_rows, m_classes),
            "</details>",
        ]
    if not ops:
        index.append("<p>No measurements in the selected runs.</p>")
    else:
        index.append(gpu_report.index_section(frame, ops))
    index += ["<h2>Runs and machines</h2>", _runs_html(runs)]
    (out_dir / "index.html").write_text(html_page("Kernel Arena report", "\n".join(index), nav))
    written += [out_dir / "index.html", out_dir / "style.css"]
    return written
