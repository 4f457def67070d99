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

from bench.peaks import fraction_of_peak
from bench.store import FAILURES, Store

STATUS_LABEL = {
    "ok": "ok",
    "mismatch": "MISMATCH",
    "error": "ERROR",
    "crashed": "CRASHED",
    "timeout": "TIMEOUT",
    "over_budget": "over budget",
    "unavailable": "unavailable",
}
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
        ["op", "impl", "device", "case_name", "dtype"], keep="last"
    )
    machines = {r["run_id"]: machine_label(r, device) for r in runs for device in ("cpu", "cuda")}
    frame["machine"] = [machines.get(rid, "") for rid in frame["run_id"]]
    frame["gflops"] = frame["flops"] / frame["median_s"] / 1e9
    frame["gbps"] = frame["bytes"] / frame["median_s"] / 1e9
    frame["speedup"] = _speedups(frame)
    peaks = {r["run_id"]: r.get("peaks") for r in runs}
    fractions = [
        fraction_of_peak(f, b, t, peaks.get(rid), _flops_are_work(op)) if status == "ok" else (None, None)
        for f, b, t, rid, op, status in zip(
            frame["flops"], frame["bytes"], frame["median_s"], frame["run_id"], frame["op"], frame["status"]
        )
    ]
    frame["peak_fraction"] = [f for f, _ in fractions]
    frame["bound"] = [b for _, b in fractions]
    return runs, frame


def _flops_are_work(op: str) -> bool:
    import impls

    try:
        return impls.spec(op).flops_are_work
    except KeyError:  # an op only a plugin knew
        return True


def machine_label(run: dict, device: str = "cpu") -> str:
    machine = run.get("machine") or {}
    if device == "cuda" and machine.get("gpus"):
        return machine["gpus"][0].get("name", "GPU")
    return f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)"


def _speedups(frame: pd.DataFrame) -> pd.Series:
    """torch's median / this median, on the same case, dtype and device."""
    ok = frame[frame["status"] == "ok"]
    # The baseline is the stock implementation named "torch" (an op may hold
    # other torch-backend variants, e.g. wavenet_stream's torch_naive).
    torch_times = ok[ok["impl"] == "torch"].set_index(["op", "case_name", "dtype", "device"])["median_s"]
    keys = list(zip(frame["op"], frame["case_name"], frame["dtype"], frame["device"]))
    baseline = pd.Series([torch_times.get(k, math.nan) for k in keys], index=frame.index)
    return (baseline / frame["median_s"]).where(frame["status"] == "ok")


# -- formatting ------------------------------------------------------------------
def fmt_time(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_num(value, digits=3, suffix="") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}{suffix}"


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
            "case": rows["case_name"],
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
            "speedup_vs_torch": rows["speedup"],
            "gflops": rows["gflops"],
            "gbps": rows["gbps"],
            "peak_fraction": rows["peak_fraction"],
            "bound": rows["bound"],
            "flops": rows["flops"],
            "bytes": rows["bytes"],
            "max_abs_err": rows["max_abs_err"],
            "machine": rows["machine"],
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
        "median",
        "IQR",
        "vs torch",
        "GFLOP/s",
        "GB/s",
        "of peak",
        "first call",
        "rounds",
        "status",
    ]
    if table["throughput_unit"].notna().any():
        headers.insert(headers.index("first call"), "rate")
    out = []
    for _, r in table.iterrows():
        ok = r["status"] == "ok"
        line = [
            r["case"],
            r["dtype"],
            r["implementation"],
            r["device"],
            fmt_time(r["median_s"]) if ok else "",
            fmt_time(r["iqr_s"]) if ok else "",
            fmt_num(r["speedup_vs_torch"], 3, "×") if ok else "",
            fmt_num(r["gflops"]) if ok else "",
            fmt_num(r["gbps"]) if ok else "",
            f"{r['peak_fraction']:.0%} {r['bound']}" if ok and pd.notna(r["peak_fraction"]) else "",
            fmt_time(r["first_call_s"]),
            "" if pd.isna(r["rounds"]) or not ok else str(int(r["rounds"])),
            status_label(r["status"]) + (f": {r['note']}" if r["note"] and not ok else ""),
        ]
        if "rate" in headers:
            rate = ""
            if ok and pd.notna(r["throughput_items"]):
                rate = f"{r['throughput_items'] / r['median_s']:.4g} {r['throughput_unit']}/s"
            line.insert(headers.index("rate"), rate)
        out.append(line)
    return headers, out


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
            for (impl, device), line in part.groupby(["implementation", "device"], sort=True):
                line = line.sort_values("size")
                style = "--" if device == "cuda" else "-"
                ax.plot(
                    line["size"],
                    line["median_s"],
                    style,
                    marker="o",
                    markersize=4,
                    label=f"{impl} ({device})",
                    linewidth=2.2 if impl == "torch" else 1.4,
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("problem size")
            ax.set_ylabel("median time per call [s]")
            ax.set_title(f"{op} {family}".strip() + f" ({dtype})", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        name = f"{op}-{dtype}.png"
        fig.savefig(out_dir / name, dpi=72)
        plt.close(fig)
        names.append(name)
    return names


def plot_roofline(table: pd.DataFrame, op: str, out_dir: Path, runs: list[dict]) -> list[str]:
    """GFLOP/s against arithmetic intensity (FLOPs per byte), under the roof
    min(GEMM peak, intensity x bandwidth) of each machine measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[(table["status"] == "ok") & table["flops"].gt(0) & table["bytes"].gt(0)]
    with_peaks = [r for r in runs if r.get("peaks") and r["run_id"] in set(ok["run_id"])]
    if ok.empty or not with_peaks or not _flops_are_work(op):
        return []
    intensity = ok["flops"] / ok["bytes"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lo, hi = max(intensity.min() / 4, 1e-3), intensity.max() * 4
    for run in with_peaks:
        peaks = run["peaks"]
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ys = [min(peaks["gemm_gflops"], x * peaks["bandwidth_gbps"]) for x in xs]
        ax.plot(xs, ys, color="0.35", linewidth=1.2)
        ax.annotate(
            f"{machine_label(run)}: {peaks['gemm_gflops']:.0f} GFLOP/s, {peaks['bandwidth_gbps']:.0f} GB/s",
            (xs[-1], ys[-1]),
            fontsize=7,
            ha="right",
            va="bottom",
        )
    for impl, part in ok.groupby("implementation", sort=True):
        ax.scatter(part["flops"] / part["bytes"], part["gflops"], s=22, label=impl)
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


# -- HTML --------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1d2733; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #dde3ea; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .86em; }
th, td { border: 1px solid #dde3ea; padding: .25em .55em; text-align: right; vertical-align: top; }
th { background: #f3f6f9; } td.l, th.l { text-align: left; }
.ok { color: #176b2c; } .mismatch, .error, .crashed, .timeout { color: #fff; background: #b3261e; font-weight: 600; }
.over_budget { color: #7a5200; background: #fff4d6; } .unavailable { color: #77808a; background: #f4f4f4; }
.best { font-weight: 700; background: #e7f6ea; }
.note { color: #56606b; font-size: .85em; } img { max-width: 100%; border: 1px solid #eef1f4; }
nav a { margin-right: 1em; } code { background: #f3f6f9; padding: 0 .2em; }
"""


def _page(title: str, body: str, nav: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<link rel='stylesheet' href='style.css'></head><body><nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def _html_table(headers: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    head = "".join(
        f"<th class='l'>{html.escape(h)}</th>" if i < 4 else f"<th>{html.escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            cls = classes[r][i] if classes else ""
            cls = (cls + " l").strip() if i < 4 else cls
            cells.append(f"<td class='{cls}'>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _runs_html(runs: list[dict]) -> str:
    headers = ["run", "started (UTC)", "finished", "status", "machine", "memory", "os", "commit", "threads", "versions"]
    rows = []
    for run in runs:
        m = run["machine"] or {}
        t = run["threads"] or {}
        v = run["versions"] or {}
        gpus = ", ".join(g.get("name", "?") for g in m.get("gpus") or []) or "no GPU"
        rows.append(
            [
                run["run_id"] + (f" ({run['name']})" if run.get("name") else ""),
                run["started"],
                run.get("finished") or "",
                run["status"],
                f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {gpus}",
                f"{(m.get('memory_bytes') or 0) / 2**30:.1f} GiB",
                m.get("os", ""),
                (run.get("git_commit") or "")[:12],
                f"torch {t.get('torch')}, numba {t.get('numba')}, BLAS/OpenMP {t.get('native_pools')}",
                ", ".join(f"{k} {val}" for k, val in v.items() if val),
            ]
        )
    return _html_table(headers, rows)


def _fastest_rows(table: pd.DataFrame) -> set:
    """Index labels of the fastest correct row of each case, dtype and device."""
    ok = table[table["status"] == "ok"]
    return set(ok.groupby(["case", "dtype", "device"])["median_s"].idxmin())


def _unavailable_note(frame: pd.DataFrame, op: str) -> str:
    """One line per device on which no implementation of the op could run."""
    part = frame[frame["op"] == op]
    lines = []
    for device, group in part.groupby("device"):
        if (group["status"] == "unavailable").all():
            reasons = ", ".join(sorted(set(group["error"].dropna())))
            lines.append(f"<p class='note'>{html.escape(device)}: not measured here ({html.escape(reasons)}).</p>")
    return "".join(lines)


def _summary_rows(frame: pd.DataFrame, op: str) -> list[list[str]]:
    """Per case, dtype and device: the fastest correct implementation."""
    rows = []
    part = frame[frame["op"] == op]
    for (_, _, case, dtype, device), group in part.groupby(
        ["family", "size", "case_name", "dtype", "device"], sort=True
    ):
        if (group["status"] == "unavailable").all():
            continue  # nothing could run on this device here; the note below the table says why
        ok = group[group["status"] == "ok"]
        failed = group[group["status"].isin(FAILURES)]
        if ok.empty:
            best = ["no correct measurement", "", "", ""]
        else:
            winner = ok.loc[ok["median_s"].idxmin()]
            best = [winner["impl"], fmt_time(winner["median_s"]), fmt_num(winner["speedup"], 3, "×"), winner["machine"]]
        rows.append(
            [case, dtype, device, *best, ", ".join(f"{r['impl']}: {r['status']}" for _, r in failed.iterrows())]
        )
    return rows


def _matrix(frame: pd.DataFrame, op: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Implementation x case: time or status, for the correctness matrix."""
    part = frame[frame["op"] == op].sort_values(["family", "size"])
    cases = list(dict.fromkeys(zip(part["case_name"], part["dtype"])))
    headers = ["implementation", "device", "backend"] + [f"{c} {d}" for c, d in cases]
    rows, classes = [], []
    for (impl, device, backend), group in part.groupby(["impl", "device", "backend"], sort=False):
        cells = {(r["case_name"], r["dtype"]): r for _, r in group.iterrows()}
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
    runs, frame = load(dbs, run_ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    (out_dir / "style.css").write_text(CSS)
    written: list[Path] = []
    ops = [op for op in dict.fromkeys(frame["op"])] if not frame.empty else []
    nav = "<a href='index.html'>index</a>" + "".join(f"<a href='{op}.html'>{op}</a>" for op in ops)
    generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    provenance = (
        f"<p class='note'>Generated {generated} UTC from {len(runs)} run(s) in "
        f"{', '.join(html.escape(str(d)) for d in dbs)}. Times are medians over rounds; "
        "speedups are torch's median ÷ the implementation's on the same case, dtype and device.</p>"
    )

    index = ["<h1>Kernel Arena</h1>", provenance]
    for op in ops:
        table = op_table(frame, op)
        headers, rows = _display_rows(table)
        fastest = _fastest_rows(table)
        classes = []
        for label, r in table.iterrows():
            row_cls = ["best" if label in fastest else "" for _ in headers]
            row_cls[headers.index("status")] = r["status"]
            classes.append(row_cls)
        images = plot_op(table, op, plots_dir)
        roofline = plot_roofline(table, op, plots_dir, runs)
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
            "<h2>Results</h2>",
            _html_table(headers, rows, classes),
            "<h2>Time against problem size</h2>",
            *(f"<p><img src='plots/{name}' alt='{op} time against problem size'></p>" for name in images),
            *(["<h2>Roofline</h2>"] if roofline else []),
            *(f"<p><img src='plots/{name}' alt='{op} roofline'></p>" for name in roofline),
            "<h2>Correctness matrix</h2>",
            _html_table(m_headers, m_rows, m_classes),
            "<h2>Runs</h2>",
            _runs_html([r for r in runs if r["run_id"] in set(table["run_id"])]),
        ]
        page = out_dir / f"{op}.html"
        page.write_text(_page(f"{op} — Kernel Arena", "\n".join(body), nav))
        (out_dir / f"{op}.md").write_text(f"# {op}\n\n" + markdown_table(headers, rows))
        table.drop(columns=["family"]).to_csv(out_dir / f"{op}.csv", index=False)
        written += [page, out_dir / f"{op}.md", out_dir / f"{op}.csv", *(plots_dir / n for n in images + roofline)]

        s_headers = ["case", "dtype", "device", "fastest correct", "median", "vs torch", "measured on", "failures"]
        index += [
            f"<h2><a href='{op}.html'>{html.escape(op)}</a></h2>",
            _html_table(s_headers, _summary_rows(frame, op)),
            _unavailable_note(frame, op),
            "<details><summary>correctness matrix</summary>",
            _html_table(m_headers, m_rows, m_classes),
            "</details>",
        ]
    if not ops:
        index.append("<p>No measurements in the selected runs.</p>")
    index += ["<h2>Runs and machines</h2>", _runs_html(runs)]
    (out_dir / "index.html").write_text(_page("Kernel Arena report", "\n".join(index), nav))
    written += [out_dir / "index.html", out_dir / "style.css"]
    return written
