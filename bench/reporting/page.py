"""The seam every report page plugs into.

A page is a class registered with ``@register``, in a module of
``bench/reporting/pages/`` (the report imports every module there).  It is
given the ``Report``: the selected runs, their measurements as one frame
(bench/reporting/frame.py), where to write and when.  It writes its files
and may add a section to the index page and links to the navigation bar.
Pages link to each other through ``Report.href`` and never import each
other; what two pages share lives in bench/reporting/common.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd


class Page:
    name = ""  # how other pages ask for its address (Report.href)
    order = 0  # pages are written, linked and put on the index in this order

    def href(self, op: str | None = None) -> str | None:
        """The page's file (for ``op`` where it has one per op), or None."""
        return None

    def links(self, report: Report) -> list[tuple[str, str]]:
        """(href, label) pairs for the navigation bar of every page."""
        return []

    def write(self, report: Report) -> list[Path]:
        """Write the page's files; returns them."""
        raise NotImplementedError

    def index_section(self, report: Report) -> str:
        """HTML for the index page (rendered from a template), or ""."""
        return ""


PAGES: list[Page] = []


def register(cls: type[Page]) -> type[Page]:
    if any(p.name == cls.name for p in PAGES):
        raise ValueError(f"two report pages are named {cls.name!r}")
    PAGES.append(cls())
    PAGES.sort(key=lambda p: p.order)
    return cls


@dataclasses.dataclass
class Report:
    """What every page is given."""

    dbs: list[str]
    runs: list[dict]
    frame: pd.DataFrame
    out_dir: Path
    generated: str  # when the report was written, ISO 8601 in UTC
    pages: list[Page]

    @property
    def ops(self) -> list[str]:
        return list(dict.fromkeys(self.frame["op"])) if not self.frame.empty else []

    @property
    def plots_dir(self) -> Path:
        return self.out_dir / "plots"

    def href(self, page: str, op: str | None = None) -> str | None:
        """Another page's address, or None where no such page is registered."""
        found = next((p for p in self.pages if p.name == page), None)
        return found.href(op) if found else None

    @property
    def nav(self) -> list[tuple[str, str]]:
        return [link for page in self.pages for link in page.links(self)]

    def runs_of(self, frame: pd.DataFrame) -> list[dict]:
        """The runs that measured any row of ``frame``."""
        ids = set(frame["run_id"])
        return [r for r in self.runs if r["run_id"] in ids]
