"""What every report page shares: number and time formats, the machine's
label, the log-log size axes and figure saving of the plots, and the HTML
page frame, its style sheet and tables.  Pages (bench/report.py,
bench/gpu_report.py) import these and never each other's helpers."""

from __future__ import annotations

import html
import math
from pathlib import Path


def machine_label(run: dict, device: str = "cpu") -> str:
    machine = run.get("machine") or {}
    gpus = [g for g in machine.get("gpus") or [] if "name" in g]
    if device == "cuda" and gpus:
        return next((g for g in gpus if g.get("current")), gpus[0])["name"]
    return f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)"


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


# -- plots -----------------------------------------------------------------------
def size_axes(ax, title: str) -> None:
    """Log-log time against problem size, as every size plot draws it."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("problem size")
    ax.set_ylabel("median time per call [s]")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def save_figure(fig, out_dir: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=72)
    plt.close(fig)
    return name


# -- HTML ------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1d2733; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #dde3ea; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .86em; display: block; overflow-x: auto;
        max-width: 100%; }
th, td { border: 1px solid #dde3ea; padding: .25em .55em; text-align: right; vertical-align: top; }
td { white-space: nowrap; } td:last-child { white-space: normal; min-width: 12em; }
th { background: #f3f6f9; } td.l, th.l { text-align: left; }
.ok { color: #176b2c; } .mismatch, .error, .crashed, .timeout { color: #fff; background: #b3261e; font-weight: 600; }
.over_budget { color: #7a5200; background: #fff4d6; } .unavailable { color: #77808a; background: #f4f4f4; }
.best { font-weight: 700; background: #e7f6ea; }
.note { color: #56606b; font-size: .85em; } img { max-width: 100%; border: 1px solid #eef1f4; }
nav a { margin-right: 1em; } code { background: #f3f6f9; padding: 0 .2em; }
.badge { display: inline-block; border-radius: .8em; padding: 0 .55em; margin: .1em .15em; font-size: .8em;
         white-space: nowrap; }
.badge.ok { background: #e7f6ea; } .badge.mismatch, .badge.error, .badge.crashed, .badge.timeout {
         background: #b3261e; color: #fff; }
.badge.over_budget { background: #fff4d6; } .badge.unavailable { background: #eceff2; color: #56606b; }
.crashed, .timeout { color: #fff; background: #b3261e; font-weight: 600; }
table.grid td { text-align: left; } .winner { font-weight: 700; } .speedup { color: #176b2c; font-weight: 600; }
.nogpu { color: #56606b; background: #f4f4f4; border-left: 3px solid #b9c2cc; padding: .5em .8em; }
"""


def html_page(title: str, body: str, nav: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<link rel='stylesheet' href='style.css'></head><body><nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def html_table(headers: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
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
