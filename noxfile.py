"""nox sessions: tests, fuzz, bench, report, lint.

All sessions share one virtual environment (.nox/arena): torch alone is
several GB, and installing it once per session would cost minutes each time.
The project is re-installed only when its dependencies change, and the native
extension (impls._C, from csrc/) rebuilt only when its sources change -- then
incrementally, by ninja, in build/ext.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
ROOT = Path(__file__).parent
ENV = ROOT / ".nox" / "arena"
# What the extension is built with and against; installed before it, so the
# build (--no-build-isolation) sees the pinned torch instead of fetching its own.
BUILD_REQUIREMENTS = ("setuptools>=68", "wheel", "ninja", "torch==2.14.1", "torchvision==0.29.1")


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def _python(session: nox.Session) -> str:
    """The shared environment's interpreter, created and kept up to date."""
    python = ENV / "bin" / "python"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(ENV), external=True)
    pip = [str(python), "-m", "pip", "install", "--no-build-isolation"]
    deps_stamp, ext_stamp = ENV / "deps.stamp", ENV / "ext.stamp"
    deps = _digest([ROOT / "pyproject.toml"])
    ext = _digest([ROOT / "setup.py", *(p for p in (ROOT / "csrc").rglob("*") if p.is_file())])
    if not deps_stamp.exists() or deps_stamp.read_text() != deps:
        session.run(*pip[:-1], "--quiet", *BUILD_REQUIREMENTS, external=True)
        # -v: the log shows every compiler call (nvcc for each .cu file).
        session.run(*pip, "-v", "-e", ".[test,dev,cluster]", external=True)
        deps_stamp.write_text(deps)
        ext_stamp.write_text(ext)
    elif not ext_stamp.exists() or ext_stamp.read_text() != ext:
        session.run(*pip, "-v", "--no-deps", "-e", ".", external=True)
        ext_stamp.write_text(ext)
    return str(python)


def _ensure_chromium(session: nox.Session) -> None:
    """The report's browser test drives Debian's Chromium (through Playwright,
    which then downloads no browser of its own). Installed here where we may;
    elsewhere the test fails and says how to install it."""
    if any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.warn("Chromium is missing and cannot be installed here (needs root and apt-get)")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", external=True, env=env)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The correctness matrix and the harness's own tests (pytest options after --),
    then the numba_cuda kernels under Numba's CUDA simulator."""
    python = _python(session)
    _ensure_chromium(session)
    session.run(python, "-m", "pytest", *session.posargs, external=True)
    # A process of its own: NUMBA_ENABLE_CUDASIM must be set before numba is
    # imported and turns numba.cuda into the simulator for the whole process,
    # so it must not reach the run above.  --simulator cuts the cases to what
    # Python threads can run in a couple of minutes (see tests/test_matrix.py).
    session.run(
        python, "-m", "pytest", "tests/test_matrix.py", "tests/test_numba_cuda.py", "--backend", "numba_cuda",
        "--simulator", "-q", env={"NUMBA_ENABLE_CUDASIM": "1"}, external=True,
    )


@nox.session(venv_backend="none")
def fuzz(session: nox.Session) -> None:
    """The input-safety properties (tests/test_properties.py) with Hypothesis's
    "long" profile: ten times the examples of the tests session, drawn afresh
    on every run rather than the same derandomized ones. Run it after changing
    native code (csrc/, a Numba kernel) or an op's contract. A failure is kept
    in .hypothesis/ and replayed first by the next run. Options after -- go to
    pytest (--op, --backend, -x)."""
    python = _python(session)
    session.run(python, "-m", "pytest", "tests/test_properties.py", *session.posargs,
                env={"HYPOTHESIS_PROFILE": "long"}, external=True)


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
