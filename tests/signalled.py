"""Processes a test signals: started with Ctrl-C's default disposition, and
shown (their group's states, their Python stacks: they run with ``-X
faulthandler``, which dumps every thread's stack on SIGABRT) when they do
not end in time."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest


def default_sigint() -> None:
    """For ``preexec_fn``: SIGINT as a terminal's job gets it.  A test run in
    the background (``pytest &``, ``nohup``) inherits SIGINT ignored, and a
    Python started so ignores it too: Ctrl-C would never reach the run."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_states(pgid: int) -> list[str]:
    """'pid state command' of each process of the group."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except (OSError, NotADirectoryError):
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if entry.name.isdigit() and int(fields[2]) == pgid:
            found.append(f"{entry.name} {fields[0]} {command}")
    return found


def wait_or_show_stacks(proc: subprocess.Popen, seconds: float) -> int:
    """``proc``'s return code once it ends within ``seconds``; else the test
    fails with its group's states and its stacks."""
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        states = group_states(proc.pid)
        os.kill(proc.pid, signal.SIGABRT)
        proc.wait(60)
        err = proc.stderr.read() if proc.stderr else ""
        pytest.fail(f"still running {seconds} s after the signal; its group: {states}; its stderr: {err[-8000:]}")
