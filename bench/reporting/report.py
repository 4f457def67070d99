"""Reports from the results store: HTML pages, Markdown and CSV tables, plots.

Everything is a plain file that opens from disk: no server, no network, no
JavaScript.  Several stores (a CPU box's, a GPU box's) merge into one report;
every figure names the run, machine and time it came from.  The pages are
the modules of bench/reporting/pages/, each registered with the report
(bench/reporting/page.py); this module loads the measurements once and has
every page write itself.
"""

from __future__ import annotations

import datetime
import importlib
import pkgutil
from pathlib import Path

from bench.reporting import common, pages
from bench.reporting.frame import load
from bench.reporting.page import PAGES, Report


def registered_pages() -> list:
    """Every page of bench/reporting/pages/, in order."""
    for module in pkgutil.iter_modules(pages.__path__):
        importlib.import_module(f"{pages.__name__}.{module.name}")
    return list(PAGES)


def write_report(dbs: list[str | Path], out_dir: Path, run_ids: list[str] | None = None) -> list[Path]:
    """Write the report of the selected runs (default: each store's latest) under ``out_dir``; returns the files."""
    runs, frame = load(dbs, run_ids)
    generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report = Report([str(d) for d in dbs], runs, frame, out_dir, generated, registered_pages())
    report.plots_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "style.css").write_text(common.CSS)
    written = [out_dir / "style.css"]
    for page in report.pages:
        written += page.write(report)
    return written
