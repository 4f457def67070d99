"""The Ray executor: every node of a Ray cluster measures the cells of the
devices it has, one cell at a time, into the driver's one store.

    python -m bench run --cluster auto            # the cluster `ray start` runs on this machine
    python -m bench run --cluster ray://HOST:PORT # a remote head (Ray Client)

Each alive node gets one actor (``NodeMeasurer``), pinned to it.  The actor
measures with the worker executor of a local run (bench.measuring.executors.Workers),
so a crash or a hang costs a cell there as here; it is sent its next cell
only when the previous one is back, which keeps measurements on one node
from overlapping.  A node started with the custom resource ``kernel_arena``
(``ray start --resources='{"kernel_arena": 1}'``) lends it to the actor for
the whole run, so two runs on one cluster never measure on a node at once.

A CPU node measures the cpu implementations; a node with a GPU its cuda ones
(and the cpu ones too with ``--cpu-on-gpu-nodes``).  A node's measurements
and its manifest are stored under its machine name: KERNEL_ARENA_MACHINE in
the environment of its ``ray start``, else its host name.  Every node needs
kernel-arena installed (the same version as the driver's); plugins are sent
to the nodes with the run.  A node lost mid-run leaves its remaining cells
unmeasured: the run ends ``interrupted``, and ``--resume`` measures them.
"""

from __future__ import annotations

import collections
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.measuring.cell import Cell, Measurement, MeasureSettings, cell_key

NODE_RESOURCE = "kernel_arena"


class ClusterUnavailable(RuntimeError):
    """Ray cannot be used here."""


def require_ray():
    """The ray module; ClusterUnavailable, saying how to install it, where it is missing."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            "--cluster needs Ray: pip install 'kernel-arena[cluster]' (on this machine and on every node)"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ClusterUnavailable where nothing accepts a connection at ``address``
    (HOST:PORT or ray://HOST:PORT): Ray itself would keep retrying for minutes.
    'auto' is left to Ray, which answers at once where no cluster runs here."""
    if address == "auto":
        return
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnavailable(f"--cluster {address!r} is not 'auto', HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterUnavailable(
            f"nothing answers at {address} ({exc}): start the cluster's head there (`ray start --head`) "
            "or pass the address `ray start` printed"
        ) from None


class NodeMeasurer:
    """One node's side (a Ray actor): set up as a local run is, then measure
    the cells it is sent, one at a time."""

    def __init__(self, settings: MeasureSettings, plugins: dict[str, str], in_process: bool, peaks: bool):
        from bench.measuring import machine

        # The node's own cores unless the run asked for a number: set before torch is imported.
        threads = settings.threads or os.cpu_count()
        machine.preset_thread_env(threads)
        import dataclasses

        import impls
        from bench.measuring.executors import InProcess, Workers

        self.threads = machine.configure_threads(threads)
        self.settings = dataclasses.replace(settings, threads=threads)
        folder = Path(tempfile.mkdtemp(prefix="kernel-arena-plugins-"))
        paths = []
        for i, (name, source) in enumerate(plugins.items()):
            path = folder / f"{i}-{Path(name).name}"
            path.write_text(source)
            impls.load_plugin(str(path))
            paths.append(str(path))
        self.executor = InProcess(self.settings) if in_process else Workers(self.settings, paths)
        self.peaks = peaks

    def describe(self) -> dict:
        """The node's machine: its name, manifest, versions, threads and (if asked) peaks."""
        from bench.measuring import machine
        from bench.measuring.cell import machine_name

        peaks = None
        if self.peaks:
            from bench.measuring.peaks import measure_all_peaks

            peaks = measure_all_peaks(0.3)
        return {
            "machine": machine_name(),
            "manifest": machine.machine_info(),
            "versions": machine.versions(),
            "threads": self.threads,
            "peaks": peaks,
        }

    def resume(self, stored: list[dict]) -> None:
        self.executor.resume(stored)

    def measure(self, cell: Cell) -> Measurement:
        return self.executor.measure_one(cell)

    def close(self) -> list[tuple[str, float]]:
        self.executor.close()
        return self.executor.worker_startups


class RayCluster:
    """Measures cells on every node of a Ray cluster (see the module's doc)."""

    def __init__(
        self,
        address: str,
        settings: MeasureSettings,
        *,
        plugins: Iterable[str] = (),
        in_process: bool = False,
        cpu_on_gpu_nodes: bool = False,
        peaks: bool = False,
    ):
        self.address = address
        self.settings = settings
        self.plugins = {str(p): Path(p).read_text() for p in plugins}
        self.in_process = in_process
        self.cpu_on_gpu_nodes = cpu_on_gpu_nodes
        self.peaks = peaks
        self.on_machine = lambda record: None  # told of each node's machine as it joins
        self.log = lambda message: None
        self.lost: list[str] = []  # nodes lost mid-run, and what they left unmeasured
        self.worker_startups: list[tuple[str, float]] = []
        self._stored: list[dict] = []
        self._nodes: list[dict] | None = None

    # -- the cluster -----------------------------------------------------------------------
    def _connect(self) -> list[dict]:
        """Start one actor on every alive node; each node as {machine, devices, actor}."""
        if self._nodes is not None:
            return self._nodes
        ray = require_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not ray.is_initialized():
            ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
        remote = ray.remote(NodeMeasurer)
        nodes, actors = [], []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources") or {}
            gpu = resources.get("GPU", 0) >= 1
            options = {
                "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                "num_cpus": 0,
                "num_gpus": 1 if gpu else 0,  # without it, Ray hides the node's GPUs from the actor
                "max_restarts": 0,
                "max_concurrency": 1,
            }
            if resources.get(NODE_RESOURCE, 0) >= 1:
                options["resources"] = {NODE_RESOURCE: 1}
            actors.append(remote.options(**options).remote(self.settings, self.plugins, self.in_process, self.peaks))
            devices = ("cuda", "cpu") if gpu and self.cpu_on_gpu_nodes else ("cuda",) if gpu else ("cpu",)
            nodes.append({"devices": devices})
        if not actors:
            raise RuntimeError(f"the Ray cluster at {self.address} has no alive node")
        records = ray.get([a.describe.remote() for a in actors])
        names = collections.Counter(r["machine"] for r in records)
        twice = [name for name, count in names.items() if count > 1]
        if twice:
            self._end([{"actor": a} for a in actors], now=True)
            raise RuntimeError(
                f"several nodes call themselves {', '.join(twice)}: give each its own name "
                "(KERNEL_ARENA_MACHINE=NAME in the environment of its `ray start`)"
            )
        for node, actor, record in zip(nodes, actors, records):
            node.update(machine=record["machine"], actor=actor)
            self.on_machine(record)
            self.log(f"node {record['machine']}: measures its {' and '.join(node['devices'])} implementations")
        mine = collections.defaultdict(list)
        for row in self._stored:
            mine[row["machine"]].append(row)
        ray.get([n["actor"].resume.remote(mine[n["machine"]]) for n in nodes])
        self._nodes = nodes
        return nodes

    def resume(self, stored: list[dict]) -> None:
        self._stored = list(stored)

    def todo(self, cells: Iterable[Cell]) -> list[tuple[str, Cell]]:
        done = {(r["machine"], *cell_key(r)) for r in self._stored}
        cells = list(cells)
        return [
            (node["machine"], cell)
            for node in self._connect()
            for cell in cells
            if cell.device in node["devices"] and (node["machine"], *cell.key) not in done
        ]

    # -- measuring -------------------------------------------------------------------------
    def measure(self, cells: Iterable[Cell]) -> Iterator[Measurement]:
        ray = require_ray()
        from ray.exceptions import RayActorError, RayTaskError

        nodes = {n["machine"]: n for n in self._connect()}
        queues = collections.defaultdict(collections.deque)
        for machine, cell in self.todo(cells):
            queues[machine].append(cell)
        pending: dict = {}  # object ref -> (machine, cell)

        def send(machine: str) -> None:  # the node's next cell, once its previous one is back
            if queues[machine]:
                cell = queues[machine].popleft()
                pending[nodes[machine]["actor"].measure.remote(cell)] = (machine, cell)

        interrupted = True
        try:
            for machine in nodes:
                send(machine)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    machine, cell = pending.pop(ref)
                    try:
                        measurement = ray.get(ref)
                    except RayActorError as exc:  # the node (or its actor) is gone
                        left = 1 + len(queues.pop(machine, ()))
                        self.lost.append(f"{machine}: {left} cell(s) unmeasured")
                        self.log(f"node {machine} lost ({type(exc).__name__}); {left} of its cells are unmeasured")
                        nodes.pop(machine)
                        continue
                    except RayTaskError as exc:  # the harness failed there on this cell: it stays unmeasured
                        self.lost.append(f"{machine}: {cell} failed in the harness")
                        self.log(f"node {machine}: {cell}: the harness failed: {exc}")
                    else:
                        yield measurement
                    send(machine)
            interrupted = False
        finally:
            self._end(list(nodes.values()), now=interrupted)

    def _end(self, nodes: list[dict], *, now: bool) -> None:
        """End the actors: asked to close their workers first after a run
        that finished, killed at once after Ctrl-C (their workers die with them)."""
        ray = require_ray()
        if not now:
            for node in nodes:
                try:
                    self.worker_startups += ray.get(node["actor"].close.remote(), timeout=30)
                except Exception:  # a node lost at the very end: its workers die with its actor
                    pass
        for node in nodes:
            ray.kill(node["actor"], no_restart=True)
        self._nodes = None
