"""The index page (index.html): per op and device, the implementation
fastest on the most cases with its speedup over torch and every
measurement's status; then each other page's section; then the runs and
machines the report was built from."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench.measuring.cell import FAILURES
from bench.reporting.common import RUNS_HEADERS, runs_rows, status_label, write_page
from bench.reporting.page import Page, Report, register


def _badges(group: pd.DataFrame) -> list[dict]:
    """Counts of measurements by status; failed and unavailable ones with their reasons."""
    out = []
    for status in ("ok", *FAILURES, "over_budget", "unavailable"):
        part = group[group["status"] == status]
        if part.empty:
            continue
        label = "pass" if status == "ok" else status_label(status).lower()
        reasons = [] if status == "ok" else sorted(set(part["error"].dropna().map(lambda e: str(e).split(";")[0][:80])))
        if status == "unavailable" and reasons:
            label += f" ({', '.join(reasons)[:60]})"
        out.append({"status": status, "text": f"{len(part)} {label}", "title": "; ".join(reasons[:5])})
    return out


def _grid(frame: pd.DataFrame, report: Report) -> dict:
    """Ops x devices: the implementation fastest on most cases, its speedup
    over torch (geometric mean over those cases), and status badges."""
    devices = sorted(set(frame["device"])) if not frame.empty else []
    rows = []
    for op in report.ops:
        cells = []
        for device in devices:
            group = frame[(frame["op"] == op) & (frame["device"] == device)]
            ok = group[group["status"] == "ok"]
            cell = {"winner": None, "badges": _badges(group)}
            if not ok.empty:
                wins = ok.loc[ok.groupby(["case", "dtype"])["median_s"].idxmin()]
                name = wins["impl"].value_counts().idxmax()
                speedups = wins[wins["impl"] == name]["speedup"].dropna()
                mean = math.exp(sum(math.log(v) for v in speedups) / len(speedups)) if len(speedups) else None
                cell |= {
                    "winner": name,
                    "speedup": f"{mean:.3g}× vs torch" if mean else "",
                    "count": f"fastest on {int((wins['impl'] == name).sum())} of {len(wins)} cases",
                }
            cells.append(cell)
        rows.append({"op": op, "href": report.href("op", op), "cells": cells})
    return {"devices": devices, "rows": rows}


@register
class IndexPage(Page):
    name = "index"
    order = 0  # first in the navigation bar; its sections come from the pages after it

    def href(self, op=None):
        return "index.html"

    def links(self, report):
        return [("index.html", "index")]

    def write(self, report: Report) -> list[Path]:
        sections = [page.index_section(report) for page in report.pages if page is not self]
        page = write_page(
            report.out_dir / "index.html",
            "index.html",
            report,
            grid=_grid(report.frame, report),
            sections=[s for s in sections if s],
            runs_headers=RUNS_HEADERS,
            runs=runs_rows(report.runs),
        )
        return [page]
