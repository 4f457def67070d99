"""The HTML report in a real browser (Chromium through Playwright), opened
from disk as a reader would: every page reachable from the index is visited,
every image must load, every link must resolve to a file of the report, and
no page may log a console error. A screenshot of each page is saved.

Chromium comes from Debian's packages (`nox -s tests` installs it where it
can). Where it cannot be found this test fails and says why: a report
nobody could check is not a passing one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("KERNEL_ARENA_ARTIFACTS", ROOT / ".artifacts")) / "browser"


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "no Chromium on PATH, so the report cannot be checked in a browser: install Debian's package "
        "(apt-get install chromium) -- `nox -s tests` does this itself where it runs as root"
    )


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}); pip install -e .[test]")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory):
    """A report written from a small run recorded by the harness itself."""
    from bench.measuring.cell import MeasureSettings
    from bench.measuring.machine import configure_threads
    from bench.reporting import report
    from bench.runner import RunConfig, run_benchmarks
    from bench.storing.store import Store

    tmp = tmp_path_factory.mktemp("browser")
    store = Store(tmp / "run.sqlite")
    config = RunConfig(
        ops=["box_iou", "gated_unit"],
        backends=["numpy", "ext", "torch"],
        quick=True,
        settings=MeasureSettings(min_time=0.01),
    )
    run_benchmarks(store, config, settings={"argv": ["test"]}, threads=configure_threads(2), name="browser-test")
    store.close()
    report.write_report([tmp / "run.sqlite"], tmp / "reports")
    return tmp / "reports"


def crawl(browser, index: Path, label: str) -> dict:
    """Visit every page reachable from index; returns what was seen per page."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"failed to load {r.url}: {r.failure}"))
    seen: dict[str, dict] = {}
    queue = [index.resolve()]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    while queue:
        path = queue.pop(0)
        if str(path) in seen:
            continue
        page.goto(path.as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => ({src: e.src, ok: e.complete && e.naturalWidth > 0}))"
        )
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        seen[str(path)] = {"title": page.title(), "images": images, "links": links, "text": page.inner_text("body")}
        for image in images:
            if not image["ok"]:
                problems.append(f"{path.name}: image did not load: {image['src']}")
        for link in links:
            url = urlparse(link)
            if url.scheme != "file":
                problems.append(f"{path.name}: link leaves the report (it must work offline): {link}")
                continue
            target = Path(unquote(url.path))
            if not target.exists():
                problems.append(f"{path.name}: broken link {link}")
            elif target.suffix == ".html" and str(target) not in seen:
                queue.append(target)
        page.screenshot(path=str(ARTIFACTS / f"{label}-{path.stem}.png"), full_page=True)
    page.close()
    assert not problems, "\n".join(problems)
    return seen


def test_fresh_report_loads_cleanly_in_a_browser(browser, fresh_report):
    seen = crawl(browser, fresh_report / "index.html", "fresh")
    pages = {Path(p).name: v for p, v in seen.items()}
    assert {"index.html", "box_iou.html", "gated_unit.html"} <= set(pages)
    index = pages["index.html"]["text"]
    for expected in ("box_iou", "gated_unit", "browser-test", "Summary"):
        assert expected in index, f"the index does not show {expected!r}"
    for op in ("box_iou", "gated_unit"):  # which one wins is the measurement's business; all must be listed
        for impl in ("numpy", "ext", "torch"):
            assert impl in pages[f"{op}.html"]["text"], f"{op}.html does not show {impl!r}"
    assert all(v["images"] for k, v in pages.items() if k in ("box_iou.html", "gated_unit.html"))


def test_committed_report_loads_cleanly_in_a_browser(browser):
    index = ROOT / "reports" / "index.html"
    if not index.exists():
        pytest.skip("no committed report (reports/index.html); `nox -s bench` writes one")
    seen = crawl(browser, index, "committed")
    import impls

    names = {Path(p).stem for p in seen}
    assert set(impls.ops()) <= names, f"pages missing for: {set(impls.ops()) - names}"
