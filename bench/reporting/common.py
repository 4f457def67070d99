"""What every report page shares: number and time formats, status labels,
the machine's and its GPUs' labels, the runs table, the log-log size axes
and figure saving of the plots, and rendering the Jinja2 templates of
bench/reporting/templates/ (the page frame, the style sheet, the table and
image macros).  Pages (bench/reporting/pages/) import these and never each
other's helpers."""

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


def gpu_summary(machine: dict) -> str:
    """The GPU(s) of a machine's manifest, one phrase each: name, capability,
    SMs, memory, L2, driver and runtime."""
    gpus = machine.get("gpus") or []
    if not gpus:
        return "no GPU"
    phrases = []
    for g in gpus:
        if "error" in g:
            phrases.append(f"GPU query failed: {g['error']}")
            continue
        details = [f"compute capability {g.get('capability', '?')}"]
        if g.get("sms"):
            details.append(f"{g['sms']} SMs")
        if g.get("memory_bytes"):
            details.append(f"{g['memory_bytes'] / 2**30:.1f} GiB")
        if g.get("l2_bytes"):
            details.append(f"L2 {g['l2_bytes'] / 2**20:.0f} MiB")
        driver = g.get("driver") or "?"
        if g.get("driver_cuda"):
            driver += f" (CUDA {g['driver_cuda']})"
        details.append(f"driver {driver}")
        details.append(f"CUDA runtime {g.get('cuda_runtime') or '?'}")
        phrases.append(f"{g.get('name', 'GPU')} ({', '.join(details)})")
    return "; ".join(phrases)


RUNS_HEADERS = ["run", "started (UTC)", "finished", "status", "machine", "memory", "os", "commit", "threads",
                "versions"]


def runs_rows(runs: list[dict]) -> list[list[str]]:
    """The runs table's rows: one per machine that measured in a run (a
    cluster's nodes), each with its own manifest, threads and versions."""
    rows = []
    for run in runs:
        machines = run.get("machines") or [{"manifest": run["machine"], "threads": run["threads"],
                                            "versions": run["versions"]}]  # fmt: skip
        for node in machines:
            m = node.get("manifest") or {}
            t = node.get("threads") or {}
            v = node.get("versions") or {}
            named = f"{node['machine']}: " if len(machines) > 1 else ""
            rows.append(
                [
                    run["run_id"] + (f" ({run['name']})" if run.get("name") else ""),
                    run["started"],
                    run.get("finished") or "",
                    run["status"],
                    f"{named}{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {gpu_summary(m)}",
                    f"{(m.get('memory_bytes') or 0) / 2**30:.1f} GiB",
                    m.get("os", ""),
                    (run.get("git_commit") or "")[:12],
                    f"torch {t.get('torch')}, numba {t.get('numba')}, BLAS/OpenMP {t.get('native_pools')}"
                    + _allocator_text(t.get("env") or {}),
                    ", ".join(f"{k} {val}" for k, val in v.items() if val),
                ]
            )
    return rows


def _allocator_text(env: dict) -> str:
    """glibc's thresholds as the run pinned them (bench.measuring.machine.pin_allocator); older runs had none."""
    mmap, trim = env.get("MALLOC_MMAP_THRESHOLD_"), env.get("MALLOC_TRIM_THRESHOLD_")
    if not (mmap or trim):
        return ""
    mib = lambda value: f"{int(value) / 2**20:g} MiB" if value and value.isdigit() else (value or "default")
    return f"; malloc mmap threshold {mib(mmap)}, trim threshold {mib(trim)}"


STATUS_LABEL = {
    "ok": "ok",
    "mismatch": "MISMATCH",
    "error": "ERROR",
    "crashed": "CRASHED",
    "timeout": "TIMEOUT",
    "over_budget": "over budget",
    "unavailable": "unavailable",
}


def status_label(status: str) -> str:
    return STATUS_LABEL.get(status, str(status).upper())


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


def file_part(text: str) -> str:
    """``text`` as a safe piece of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


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
    """A template of bench/reporting/templates/ filled in: every value is
    escaped as text, except ``Markup`` (another template's output)."""
    from markupsafe import Markup

    return Markup(_templates().get_template(template).render(**context))


def write_page(path: Path, template: str, report, **context) -> Path:
    """A whole page from ``template`` (which extends page.html): the
    navigation bar and the report's provenance filled in."""
    path.write_text(render(template, nav=report.nav, generated=report.generated, runs_count=len(report.runs),
                           dbs=[str(d) for d in report.dbs], **context))
    return path
