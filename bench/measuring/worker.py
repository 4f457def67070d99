"""Worker processes: every implementation runs in a process of its own.

A kernel under test may segfault, abort, hang in native code that no signal
interrupts, or leave its process's CUDA context poisoned for good.  Run in
the harness's process, any of these ends the run or spoils every later GPU
measurement.  Here each implementation gets a worker process, reused across
its cases and dtypes.  When the worker dies the parent records how
(``crashed``: the signal or the exit code, with the innermost Python frame
the worker's faulthandler saw); when a call will not return the parent kills
the worker (``timeout``); either way the next cell gets a fresh worker, as
does the next cell after an implementation raised (its exception may have
left the process in a bad state: a CUDA error is sticky).

A worker makes each case's inputs itself from the seed -- the same arrays the
parent made -- and reads the reference the parent computed once per case
from a file; it then runs ``CellMeasurer.measure_checked`` (bench/measuring/measure.py),
the checking and timing code of an in-process run, and sends the measurement back.  Nothing crosses the process
boundary inside the timed region: one request per cell, plus a note from the
worker when the implementation's first call starts and ends, so that the
parent knows which deadline applies.  A worker's start-up (fork, thread
settings, plugins) happens before its first request and is kept out of every
stored figure.

Start method: ``forkserver``.  By the time workers are needed the runner has
run torch and Numba kernels (the references, the peaks), so their OpenMP /
TBB pools are running and a CUDA context may exist.  ``fork`` would copy only
the forking thread: a child can then deadlock on a lock some pool thread held
at the fork (libgomp's pool is not fork-safe), and CUDA refuses to initialise
in a forked child of an initialised parent.  The fork server is a fresh
interpreter that imports numpy, torch, numba and the built-in
implementations once (bench/measuring/_preload.py) and never runs a kernel; forking
from it is safe, and costs milliseconds where ``spawn`` -- equally safe --
would pay the several-second import of torch, torchvision and numba for every
worker.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing.connection import wait
from pathlib import Path

from bench.measuring.cell import Measurement, MeasureSettings
from bench.measuring.measure import CellMeasurer, Progress, case_inputs, error_text, timed_round

START_METHOD = "forkserver"
SETUP_LIMIT = 300.0  # seconds for a worker to start (imports, plugins) or to make a case's inputs
CHECK_ALLOWANCE = 30.0  # seconds for checking an output against the reference, on top of the timing budget
EXIT_LIMIT = 5.0  # seconds the workers asked to exit are given, all together, before they are killed


def grace(budget: float) -> float:
    """Slack past a phase's own allowance before its worker is killed: a
    Python-level call is stopped at the budget by the worker's own alarm
    (over_budget); only a call that ignores it runs into this."""
    return max(2.0, 0.5 * budget)


@dataclasses.dataclass
class Outcome:
    """What became of one cell sent to a worker."""

    status: str  # "measured" (``measurement`` holds the worker's), "timed" (a round), or crashed / timeout / error
    message: str = ""
    measurement: Measurement | None = None
    seconds: float | None = None  # a timed round's seconds per call
    progress: object = None  # the implementation's _Progress on the case's family, after the cell


class _Died(Exception):
    pass


def _context():
    ctx = multiprocessing.get_context(START_METHOD)
    ctx.set_forkserver_preload(["bench.measuring._preload"])  # effective for the server's first start
    return ctx


class WorkerPool:
    """The parent's side: one live worker per implementation of the current
    op, started on its first cell and replaced after a crash, a timeout or an
    error."""

    def __init__(self, *, plugins, settings: MeasureSettings):
        # Everything a worker needs, sent once when it starts.
        self.options = {"plugins": [str(p) for p in plugins], "settings": settings}
        self.budget = settings.budget
        self.folder = Path(tempfile.mkdtemp(prefix="kernel-arena-"))
        self.startups: list[tuple[str, float]] = []  # (implementation, seconds its worker took to start)
        self._ctx = _context()
        self._workers: dict[str, _Worker] = {}
        self._shared: dict[tuple, dict] = {}
        self._count = 0

    # -- a case's data, shared through files ------------------------------------------
    def share(self, op: str, case: str, dtype: str, seed: int, data) -> dict:
        """Where a worker finds what the parent computed for a case (its
        reference and cost model; the worker makes the inputs itself)."""
        key = (op, case, dtype, seed)
        if key not in self._shared:
            if isinstance(data, Exception):
                self._shared[key] = {"error": error_text(data)}
            else:
                path = self.folder / f"case-{len(self._shared)}.pickle"
                with open(path, "wb") as f:
                    pickle.dump({k: v for k, v in data.items() if k != "inputs"}, f, protocol=pickle.HIGHEST_PROTOCOL)
                self._shared[key] = {"path": str(path)}
        return self._shared[key]

    def forget_case(self) -> None:
        for shared in self._shared.values():
            if "path" in shared:
                Path(shared["path"]).unlink(missing_ok=True)
        self._shared.clear()

    # -- measuring ------------------------------------------------------------------------
    def measure(self, impl, request: dict) -> Outcome:
        """One cell measured (``request["kind"]`` "measure"), or only checked
        and kept ready for timed rounds ("contend", the headline's)."""
        worker = self._workers.get(impl.key)
        if worker is None:
            worker = self._workers[impl.key] = _Worker(self, impl)  # known to close() while it starts
            worker.busy = True
            failure = worker.start()
            worker.busy = False
            if failure is not None:
                self._workers.pop(impl.key).end()
                return failure
        outcome = worker.measure(request)
        if outcome.status != "measured" or outcome.measurement.status == "error":
            self._workers.pop(impl.key).end()
        return outcome

    def round(self, impl, number: int) -> Outcome:
        """One timed round of ``number`` calls by the worker that contended
        for ``impl``: its per-call seconds in ``Outcome.seconds``."""
        worker = self._workers[impl.key]
        outcome = worker.round(number)
        if outcome.status != "timed":
            self._workers.pop(impl.key).end()
        return outcome

    def close_workers(self, *, now: bool = False) -> None:
        """End every worker: all asked to exit at once and given EXIT_LIMIT
        seconds together (one by one, idle workers exiting with torch loaded
        had taken over 60 s on a busy machine), then killed; ``now`` (Ctrl-C,
        SIGTERM) kills at once: a worker holds nothing not already sent."""
        workers = list(self._workers.values())
        self._workers.clear()
        if not now:
            for worker in workers:
                worker.ask_to_exit()
        deadline = time.monotonic() + (0.0 if now else EXIT_LIMIT)
        for worker in workers:
            worker.end(deadline)

    def close(self, *, now: bool = False) -> None:
        self.close_workers(now=now)
        self.forget_case()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Worker:
    def __init__(self, pool: WorkerPool, impl):
        pool._count += 1
        self.pool = pool
        self.impl = impl
        self.log = pool.folder / f"worker-{pool._count}.log"  # its stdout, stderr and faulthandler dumps
        self.process = None
        self.conn = None
        self.busy = False  # a request is in flight: ending it cannot wait for a polite exit

    def start(self) -> Outcome | None:
        """Start the worker and wait until it is ready; an Outcome if it could not."""
        options = {
            **self.pool.options,
            "op": self.impl.op,
            "name": self.impl.name,
            "device": self.impl.device,
            "log": str(self.log),
        }
        self.conn, child = self.pool._ctx.Pipe()
        started = time.monotonic()
        self.process = self.pool._ctx.Process(target=serve, args=(child, options), name=f"worker {self.impl.key}")
        self.process.start()
        child.close()
        failure = self._wait_for("hello", "starting the worker", SETUP_LIMIT)
        if isinstance(failure, Outcome):
            return failure
        self.pool.startups.append((self.impl.key, time.monotonic() - started))
        return None

    def measure(self, request: dict) -> Outcome:
        try:
            self.conn.send(request)
        except OSError:  # it died while idle
            return Outcome("crashed", self._death("while idle"))
        self.busy = True
        reply = self._wait_for("measured", "making the inputs", SETUP_LIMIT)
        if isinstance(reply, Outcome):
            return reply
        self.busy = False
        return Outcome("measured", measurement=reply[1], progress=reply[2])

    def round(self, number: int) -> Outcome:
        try:
            self.conn.send({"kind": "round", "number": number})
        except OSError:
            return Outcome("crashed", self._death("while idle"))
        self.busy = True
        reply = self._wait_for("round", "a timed round", self.pool.budget + grace(self.pool.budget))
        if isinstance(reply, Outcome):
            return reply
        self.busy = False
        return Outcome("timed", seconds=reply[1])

    def _wait_for(self, wanted: str, phase: str, limit: float) -> tuple | Outcome:
        """The worker's next ``wanted`` message, following its phase notes;
        an Outcome when it dies, fails or overruns a phase."""
        deadline = time.monotonic() + limit
        while True:
            try:
                message = self._next(deadline)
            except _Died:
                return Outcome("crashed", self._death(f"during {phase}"))
            if message is None:
                where = self._kill_with_stack()
                limits = f"{limit:.3g} s (budget {self.pool.budget:g} s)"
                return Outcome("timeout", f"{phase} did not finish within {limits}; worker killed{where}")
            if message[0] == "phase":
                phase, allowance = message[1], message[2]
                limit = allowance + grace(self.pool.budget)
                deadline = time.monotonic() + limit
            elif message[0] == "failed":
                return Outcome("error", message[1])
            elif message[0] == wanted:
                return message

    def _next(self, deadline: float):
        """The next message, None once ``deadline`` has passed; _Died if the worker died."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready = wait([self.conn, self.process.sentinel], remaining)
            if self.conn in ready:  # a message, or the end of the pipe
                try:
                    return self.conn.recv()
                except (EOFError, OSError, pickle.UnpicklingError) as exc:
                    raise _Died() from exc
            if self.process.sentinel in ready and not self.conn.poll(0):
                raise _Died()

    def _death(self, when: str) -> str:
        self.process.join(10)
        code = self.process.exitcode
        if code is None:  # the pipe broke but the process lives on: end it
            self.process.kill()
            self.process.join(10)
            how = "broke its pipe to the runner"
        elif code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return f"{how} {when}{self._where()}"

    def _kill_with_stack(self) -> str:
        """Kill the worker, first asking its faulthandler where it is stuck
        (the dump runs in the signal handler, so it works inside native code)."""
        if self.process.is_alive():
            try:
                os.kill(self.process.pid, signal.SIGUSR1)
                size = self.log.stat().st_size if self.log.exists() else 0
                for _ in range(50):  # up to 0.5 s for the dump to appear
                    time.sleep(0.01)
                    if self.log.exists() and self.log.stat().st_size > size:
                        time.sleep(0.05)
                        break
            except OSError:
                pass
        self.process.kill()
        self.process.join(10)
        return self._where()

    def _where(self) -> str:
        """' (at file:line in function)' from the worker's last faulthandler
        dump: the innermost frame in the implementation's own file if any,
        else the innermost; with the last line the worker printed before it."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        marker = "(most recent call first):"
        if marker not in text:
            return ""
        before, dump = text[: text.rfind(marker)], text[text.rfind(marker) :]
        frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', dump)
        if not frames:
            return ""
        source = getattr(self.impl, "source", "")
        file, line, function = next((f for f in frames if source and f[0] == source), frames[0])
        said = [ln.strip() for ln in before.splitlines() if ln.strip()]
        said = [ln for ln in said if not ln.startswith(("Fatal Python error", "Current thread", "Thread 0x"))]
        last = f"; it printed: {said[-1][:200]}" if said else ""
        return f" (at {Path(file).name}:{line} in {function}{last})"

    def ask_to_exit(self) -> None:
        if self.process is not None and self.process.pid is not None and self.process.is_alive() and not self.busy:
            try:
                self.conn.send(None)
            except OSError:
                pass

    def end(self, deadline: float | None = None) -> None:
        """Stop the worker: asked (ask_to_exit) and waited for until
        ``deadline`` (time.monotonic()), or EXIT_LIMIT from now; then killed.
        What it printed is passed on."""
        if self.process is not None and self.process.pid is not None:
            if deadline is None:
                self.ask_to_exit()
                deadline = time.monotonic() + EXIT_LIMIT
            self.process.join(max(0.0, deadline - time.monotonic()))
            if self.process.is_alive():
                self.process.kill()
                self.process.join(10)
        if self.conn is not None:
            self.conn.close()
        try:
            printed = self.log.read_text(errors="replace").strip()
        except OSError:
            printed = ""
        if printed:
            prefix = f"[worker {self.impl.key}] "
            sys.stderr.write("".join(prefix + line + "\n" for line in _worth_passing_on(printed)))
        self.log.unlink(missing_ok=True)


def _worth_passing_on(printed: str) -> list[str]:
    """A worker's output without the parts of faulthandler dumps that say
    nothing about the implementation: the harness's own frames below it and
    the list of extension modules."""
    bench = str(Path(__file__).parents[1])  # every module of the harness
    harness = (bench, str(Path(multiprocessing.__file__).parent), '"<string>"')
    return [
        line
        for line in printed.splitlines()
        if not line.startswith("Extension modules:")
        and not (line.lstrip().startswith("File ") and any(part in line for part in harness))
    ]


# -- the worker's side ----------------------------------------------------------------------
def _volunteer_for_the_oom_killer() -> None:
    """An implementation that exhausts memory should lose its worker (a
    ``crashed`` cell, killed by SIGKILL), not the runner: raise this
    process's standing with the kernel's OOM killer."""
    try:
        Path("/proc/self/oom_score_adj").write_text("500")
    except OSError:
        pass


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this worker when its parent ends.  The parent
    is the fork server, which exits when the runner does (SIGKILL included);
    without this a worker stuck in native code would outlive the run."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: a dead runner's idle workers still see their pipe close
        pass


class _Watched:
    """The implementation as ``CellMeasurer.measure`` sees it, telling the parent
    when the implementation's own code is about to run (its inputs
    converted) and when its first call has returned (the output is being
    converted back).  The notes fall outside every timed region."""

    def __init__(self, impl, conn, budget: float, min_time: float, seed: int):
        self._impl = impl
        self._conn = conn
        self._budget = budget
        self._min_time = min_time
        self._seed = seed
        self._calls = 0
        self._checks = 0
        self._called_at = 0.0
        # The timed loop's own lookups: plain attributes, not __getattr__, which
        # costs a failed lookup and a call (~0.5 us, a tenth of a 5 us kernel).
        self.call = impl.call
        self.synchronize = impl.synchronize
        # For the copies timed after the check (CellMeasurer.transfers): a note
        # on the pipe per copy would be timed with it, and mislabel the phase.
        self.unwatched = impl

    def __getattr__(self, name):
        return getattr(self._impl, name)

    def prepare(self, inputs):
        native = self._impl.prepare(inputs)
        self._calls += 1
        phase = "the first call" if self._calls == 1 else f"the call on the inputs of seed {self._seed + 1}"
        self._conn.send(("phase", phase, self._budget))
        self._called_at = time.perf_counter()
        return native

    def to_numpy(self, output, inputs):
        first = time.perf_counter() - self._called_at
        self._checks += 1
        if self._checks == 1:
            # Checking, then timing: rounds until max(budget - first call,
            # min_time) have passed, the last round overrunning by up to a call.
            allowance = CHECK_ALLOWANCE + max(self._budget - first, self._min_time) + 2 * first
            self._conn.send(("phase", "checking and timing", allowance))
        else:
            self._conn.send(("phase", f"checking the output of seed {self._seed + 1}", CHECK_ALLOWANCE + first))
        return self._impl.to_numpy(output, inputs)


def _shared_case(spec, case, dtype: str, seed: int, shared: dict):
    if "error" in shared:
        return RuntimeError(shared["error"])
    with open(shared["path"], "rb") as f:
        stored = pickle.load(f)
    return {"inputs": case_inputs(spec, case, dtype, seed), **stored}


def serve(conn, options: dict) -> None:
    """A worker's life: set up as the runner did, then measure one cell per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle: it ends its workers
    _die_with_parent()
    _volunteer_for_the_oom_killer()
    # What the implementation prints goes to the worker's log (the runner passes
    # it on), never into the runner's stdout, which may be --json output.
    log = open(options["log"], "a", buffering=1)  # noqa: SIM115 - open for the process's life
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout.reconfigure(line_buffering=True)
    faulthandler.enable(sys.stderr)
    faulthandler.register(signal.SIGUSR1, sys.stderr, chain=False)
    # This process will hold OpenMP/TBB threads: anything in it that starts
    # processes must not fork it. (Numba then also skips the process-shared
    # lock it would make for a fork start method: a lock a killed worker
    # could never release.)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        from bench.measuring import machine

        wanted = options["settings"].threads
        if wanted:
            machine.preset_thread_env(wanted)  # as the runner did before its imports
        import impls

        threads = machine.configure_threads(wanted) if wanted else None
        for path in options["plugins"]:
            impls.load_plugin(path)
        if options["device"] == "cuda":
            import torch

            if torch.cuda._is_in_bad_fork():
                raise RuntimeError(
                    "CUDA was initialised in the fork server this worker was forked from (some module used the "
                    "GPU when imported); CUDA cannot work here. Run with --in-process, or fix that import"
                )
        try:
            impl = impls.get(options["op"], options["name"], options["device"])
        except KeyError:
            raise LookupError(
                f"{options['op']}/{options['name']}/{options['device']} is not registered in a worker process: "
                "workers see built-in implementations and --plugin files only (or run with --in-process)"
            ) from None
        measurer = CellMeasurer(options["settings"])
    except BaseException as exc:
        conn.send(("failed", f"the worker could not start: {error_text(exc)}"))
        return
    conn.send(("hello", {"pid": os.getpid(), "threads": threads}))
    ready = {}  # a contender's prepared inputs, timed by the rounds that follow

    while True:
        try:
            request = conn.recv()
        except EOFError:  # the runner is gone
            return
        if request is None:
            return
        try:
            if request["kind"] == "round":
                conn.send(("round", timed_round(impl, ready["native"], request["number"])))
            else:
                conn.send(("measured", *_measure_request(measurer, impl, conn, request, ready)))
        except BaseException as exc:  # SystemExit from a plugin included: that cell's error
            conn.send(("failed", error_text(exc)))


def _measure_request(measurer: CellMeasurer, impl, conn, request: dict, ready: dict) -> tuple:
    """One cell, measured as an in-process run measures it (or, for a
    headline contender, checked and its inputs kept): (measurement, progress)."""
    spec = impl.spec
    case = spec.case(request["case"])
    settings = measurer.settings
    dtype, seed = request["dtype"], settings.seed
    key = (spec.name, impl.key, case.family)
    measurer.history[key] = request["progress"] or Progress()
    watched = _Watched(impl, conn, settings.budget, settings.min_time, seed)
    data = _shared_case(spec, case, dtype, seed, request["shared"])
    extra = lambda: _shared_case(spec, case, dtype, seed + 1, request["shared_next"])  # noqa: E731
    ready.clear()
    if request["kind"] == "contend":
        row, native = measurer.contend(spec, case, dtype, watched, data, extra)
        if native is not None:
            ready["native"] = native
        return Measurement.from_row(row), measurer.history.get(key)
    return measurer.measure_checked(spec, case, dtype, watched, data, extra), measurer.history.get(key)
