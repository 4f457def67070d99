"""nox sessions: tests, bench, report, lint.

All sessions share one virtual environment (.nox/arena): torch alone is
several GB, and installing it once per session would cost minutes each time.
The project is re-installed only when its build files change.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
ROOT = Path(__file__).parent
ENV = ROOT / ".nox" / "arena"
BUILD_FILES = ("pyproject.toml", "setup.py")


def _python(session: nox.Session) -> str:
    """The shared environment's interpreter, created and kept up to date."""
    python = ENV / "bin" / "python"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(ENV), external=True)
    stamp = ENV / "kernel-arena.stamp"
    digest = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in BUILD_FILES if (ROOT / f).exists()))
    if not stamp.exists() or stamp.read_text() != digest.hexdigest():
        session.run(str(python), "-m", "pip", "install", "--quiet", "-e", ".[test,dev]", external=True)
        stamp.write_text(digest.hexdigest())
    return str(python)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The correctness matrix and the harness's own tests (pytest options after --)."""
    session.run(_python(session), "-m", "pytest", *session.posargs, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Measure every op (options after -- go to `bench run`), then write reports/."""
    python = _python(session)
    session.run(python, "-m", "bench", "run", *session.posargs, external=True)
    session.run(python, "-m", "bench", "report", external=True)


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Write reports/ from the results store (options after -- go to `bench report`)."""
    session.run(_python(session), "-m", "bench", "report", *session.posargs, external=True)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    session.run(_python(session), "-m", "ruff", "check", ".", external=True)
