"""What every report page shares: number and time formats, the machine's
label, the log-log size axes and figure saving of the plots, and the HTML
page frame, its style sheet and tables (Jinja2 templates in
bench/templates/).  Pages (bench/report.py, bench/gpu_report.py) import
these and never each other's helpers."""

from __future__ import annotations

import functools
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
TEMPLATES = Path(__file__).parent / "templates"
CSS = (TEMPLATES / "style.css").read_text()  # written beside the pages as style.css


@functools.cache
def _templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is text unless a template marks it as HTML
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context) -> str:
    """A template of bench/templates/ filled in (values escaped; ``Markup`` ones kept as HTML)."""
    return _templates().get_template(template).render(**context)


def html_page(title: str, body: str, nav: str) -> str:
    """A whole page: ``body`` and ``nav`` are HTML already."""
    from markupsafe import Markup

    return render("page.html", title=title, body=Markup(body), nav=Markup(nav))


def html_table(headers: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    """A table of text cells; the first four columns are left-aligned (names), the rest right (figures)."""
    return render("table.html", headers=headers, rows=rows, classes=classes)
