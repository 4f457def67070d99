"""Is the process that wrote a run still alive?

A run killed with SIGKILL (or by a power cut, or the OOM killer) never gets
to mark its row; the row keeps saying ``running``.  The runner therefore
records who it is -- host, pid, the kernel's boot id and the process's start
time -- in the run's settings, and readers ask :func:`runner_gone` before
they show a ``running`` row.  The start time guards against a recycled pid,
the boot id against a reboot.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/PID/stat (state first), or None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return stat[stat.rfind(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def runner_identity() -> dict:
    """Who this process is, in the form :func:`runner_gone` checks."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(), "started_ticks": _start_ticks(pid)}


def runner_gone(identity: dict | None) -> bool:
    """True when the process ``identity`` names has certainly ended; False
    when it is alive, or when this machine cannot tell (another host, or a
    run stored before runners recorded themselves)."""
    if not identity or not identity.get("pid") or identity.get("host") != socket.gethostname():
        return False
    boot_id = _boot_id()
    if identity.get("boot_id") and boot_id and identity["boot_id"] != boot_id:
        return True  # the machine rebooted since
    pid = int(identity["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        pass
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):
        return True  # dead, not yet reaped by its parent
    started = identity.get("started_ticks")
    now = _start_ticks(pid)
    return started is not None and now is not None and now != started  # the pid was recycled
