"""python -m bench: list implementations, run benchmarks, write reports."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench.measuring.progress import format_seconds
from bench.storing.store import DEFAULT_DB, NotAStore

DEFAULT_REPORTS = Path("reports")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Kernel Arena: check and time interchangeable implementations of deep-learning kernels.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def plugin_option(p):
        p.add_argument(
            "--plugin",
            action="append",
            default=[],
            metavar="FILE",
            help="a Python file whose @impls.register functions take part like built-in ones (repeatable)",
        )

    p = sub.add_parser(
        "list",
        help="ops x implementations and whether each can run here",
        description="List every registered implementation with its availability here.",
    )
    p.add_argument("--op", action="append", help="only this op (repeatable)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects (op, name, backend, device, available, reason)",
    )
    plugin_option(p)

    p = sub.add_parser(
        "run",
        help="check every selected implementation against the reference and time it",
        description="Check and time implementations; every result is stored as it completes.",
    )
    p.add_argument("--op", action="append", help="only this op (repeatable; default: all)")
    p.add_argument("--backend", action="append", help="only this backend (repeatable)")
    p.add_argument("--device", action="append", choices=("cpu", "cuda"), help="only this device (repeatable)")
    p.add_argument("--impl", action="append", help="only implementations of this name (repeatable)")
    p.add_argument(
        "--dtype",
        action="append",
        choices=("float16", "float32", "float64"),
        help="dtypes to measure (repeatable; default float32)",
    )
    p.add_argument("--quick", action="store_true", help="small cases only, shorter measuring time")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"the SQLite results store (default {DEFAULT_DB})")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for torch, Numba and BLAS/OpenMP alike (default: all cores; on a cluster, all of each node's)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds one measurement may take; past it the implementation's larger cases are "
        "recorded as over budget (default 10)",
    )
    p.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="minimum measuring seconds per measurement (default 0.2, 0.05 with --quick)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the input generators (default 0)")
    p.add_argument("--name", help="a name for this run")
    p.add_argument(
        "--no-peaks",
        action="store_true",
        help="skip measuring the machine's GEMM/bandwidth peaks (a few seconds) before the run",
    )
    p.add_argument(
        "--no-l2-flush",
        action="store_true",
        help="CUDA: do not evict the L2 cache before each timed call (warm-cache figures)",
    )
    p.add_argument("--json", action="store_true", help="print the run's measurements as JSON instead of a table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines; only the summary at the end")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the implementations in this process instead of one worker process each (for debugging: a "
        "crash or a hang then ends the run)",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="measure on every node of a Ray cluster ('auto': the one `ray start` runs on this machine; "
        "ray://HOST:PORT: a remote head), one cell at a time per node, into this store (needs kernel-arena[cluster])",
    )
    p.add_argument(
        "--cpu-on-gpu-nodes",
        action="store_true",
        help="with --cluster: GPU nodes measure the cpu implementations too (by default only their cuda ones)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="finish an interrupted run: measure only the cells it lacks, with its stored settings (selection, "
        "budget, seed, plugins, threads), into the same run of --db",
    )
    plugin_option(p)

    p = sub.add_parser(
        "peaks",
        help="measure this machine's GEMM and memory-bandwidth limits",
        description="Measure dense float32 GEMM GFLOP/s, STREAM copy/triad GB/s and the harness's overhead per "
        "timed call, with the benchmarks' thread settings; with a CUDA device, also its float32 GEMM "
        "TFLOP/s (TF32 off) and device-memory copy GB/s.",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the figures as a JSON object")
    p.add_argument("--db", help="also store them, as a run of their own, in this results store")

    p = sub.add_parser(
        "headline",
        help="each op's headline cases, every CPU implementation side by side, rounds interleaved",
        description="For each op's headline case(s): the fastest correct implementation other than stock torch, "
        "its median, torch's median, the ratio torch / best and the fraction of this machine's peak.",
    )
    p.add_argument("--op", action="append", help="only this op (repeatable)")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds per case (default 10)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (default: all cores)")
    p.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="an implementation whose first call takes longer is left out (default 30 s)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects: op, case, best, best_s, torch_s, speedup, fraction_of_peak, "
        "failures (implementation -> status and error; and steps_per_s for streaming ops)",
    )
    p.add_argument("--impl", action="append", help="only implementations of this name (repeatable)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="check and time the implementations in this process instead of one worker process each (debugging)",
    )
    plugin_option(p)

    p = sub.add_parser(
        "runs",
        help="list the stored runs, oldest first",
        description="List every run in the stores: id, name, when, status, machine, measurements.",
    )
    p.add_argument("--db", action="append", help=f"a results store (repeatable; default {DEFAULT_DB})")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects (run_id, name, started, finished, status, machine, git_commit, "
        "measurements, db) in the order the runs started",
    )

    p = sub.add_parser(
        "compare",
        help="is run B faster or slower than run A? (exits 1 on a significant regression)",
        description="Pair the measurements of two runs and judge each: B's median / A's, a Mann-Whitney U test "
        "on the stored rounds and a bootstrap confidence interval of the ratio. Verdicts: faster, slower, same, "
        "uncertain. Exit status 1 when any measurement is significantly slower beyond the threshold or newly "
        "fails its correctness check, so the command can gate a change.",
    )
    p.add_argument(
        "run_a",
        metavar="RUN_A",
        help="the baseline: a run id, a unique prefix of one, a run name, 'latest' or 'previous'",
    )
    p.add_argument("run_b", metavar="RUN_B", help="the run judged against RUN_A (same forms)")
    p.add_argument(
        "--db", action="append", help=f"a results store holding either run (repeatable; default {DEFAULT_DB})"
    )
    p.add_argument(
        "--threshold",
        default="5%",
        help="changes smaller than this are 'same', larger ones may be 'faster'/'slower' (default 5%%)",
    )
    p.add_argument("--op", action="append", help="only this op (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list of verdict objects")

    p = sub.add_parser(
        "export",
        help="one run's measurements as CSV or JSON",
        description="Write every measurement of one stored run (statistics, every round, cost model, errors, "
        "status) as CSV or JSON, to standard output or a file.",
    )
    p.add_argument("run", metavar="RUN", help="a run id, a unique prefix of one, a run name, 'latest' or 'previous'")
    p.add_argument("--db", action="append", help=f"a results store holding the run (repeatable; default {DEFAULT_DB})")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default csv)")
    p.add_argument("--out", help="write to this file instead of standard output")

    p = sub.add_parser(
        "history",
        help="one op's measurements across all stored runs",
        description="Median time of each implementation and case in every stored run, oldest run first "
        "(the report draws the same as a plot per op).",
    )
    p.add_argument("--op", action="append", help="only this op (repeatable; default: all)")
    p.add_argument("--db", action="append", help=f"a results store (repeatable; default {DEFAULT_DB})")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects, one per measurement")

    p = sub.add_parser(
        "report",
        help="write the HTML report and the Markdown/CSV tables from the store",
        description="Generate reports/ from one or more stores; by default the latest run of "
        "each store, merged (a CPU box's store and a GPU box's store give one report).",
    )
    p.add_argument("--db", action="append", help=f"a results store (repeatable; default {DEFAULT_DB})")
    p.add_argument("--run", action="append", help="use these run ids instead of each store's latest run")
    p.add_argument("--out", default=str(DEFAULT_REPORTS), help=f"output folder (default {DEFAULT_REPORTS})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "resume", None):
        try:
            _take_stored_settings(args)  # before the thread settings and the plugins below
        except (KeyError, ValueError) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    threads = getattr(args, "threads", None) or os.cpu_count()
    if threads < 1:
        print("error: --threads must be at least 1", file=sys.stderr)
        return 2
    from bench.measuring import machine

    machine.preset_thread_env(threads)  # before numba and torch are imported
    import impls

    try:
        for path in getattr(args, "plugin", []):
            loaded = impls.load_plugin(path)
            print(f"plugin {path}: {len(loaded)} implementation(s) registered", file=sys.stderr)
    except (FileNotFoundError, SyntaxError, ValueError, ImportError) as exc:
        print(f"error: cannot load plugin: {exc}", file=sys.stderr)
        return 2
    try:
        commands = {
            "list": _list,
            "run": _run,
            "peaks": _peaks,
            "headline": _headline,
            "report": _report,
            "runs": _runs,
            "compare": _compare,
            "history": _history,
            "export": _export,
        }
        return commands[args.command](args, threads)
    except (KeyError, NotAStore) as exc:  # unknown op / run id, a --db that is no store: the message says which
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2


def _list(args, threads) -> int:
    import impls

    for op in args.op or ():
        impls.spec(op)
    rows = [
        {
            "op": i.op,
            "name": i.name,
            "backend": i.backend,
            "device": i.device,
            "available": i.available,
            "reason": i.reason,
        }
        for i in impls.implementations()
        if not args.op or i.op in args.op
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    current = None
    for r in rows:
        if r["op"] != current:
            current = r["op"]
            print(f"\n{current}")
        state = "available" if r["available"] else f"unavailable: {r['reason']}"
        print(f"  {r['name']:<{width}}  {r['backend']:<10} {r['device']:<4}  {state}")
    return 0


# What `run --resume` takes back from a stored run: its settings key, and the option it sets.
_RESUMED = (
    ("ops", "op"),
    ("backends", "backend"),
    ("devices", "device"),
    ("names", "impl"),
    ("dtypes", "dtype"),
    ("quick", "quick"),
    ("budget", "budget"),
    ("min_time", "min_time"),
    ("seed", "seed"),
    ("plugins", "plugin"),
    ("threads", "threads"),
    ("in_process", "in_process"),
    ("no_peaks", "no_peaks"),
    ("cluster", "cluster"),
    ("cpu_on_gpu_nodes", "cpu_on_gpu_nodes"),
)


def _take_stored_settings(args) -> None:
    """Set ``args`` to the stored run's settings (``run --resume``)."""
    from bench.storing.store import Store

    if not Path(args.db).exists():
        raise KeyError(f"no results store at {args.db}")
    store = Store(args.db)
    try:
        run = store.run(args.resume)
    finally:
        store.close()
    if run["status"] == "running":
        runner = (run["settings"] or {}).get("runner") or {}
        raise ValueError(
            f"run {args.resume} is still being written (pid {runner.get('pid', '?')} on {runner.get('host', '?')}); "
            "stop that process first"
        )
    settings = run["settings"] or {}
    if "ops" not in settings:  # stored before the selection was: read it back from the command line
        try:
            old = _parser().parse_args(settings.get("argv") or ["run"])
        except SystemExit:
            raise ValueError(f"run {args.resume} stored neither its selection nor a readable command line") from None
        settings = {**{key: getattr(old, option, None) for key, option in _RESUMED}, **settings}
    for key, option in _RESUMED:
        if key in settings:
            setattr(args, option, settings[key])
    args.name = run.get("name")
    print(f"resuming run {args.resume} ({run['status']}) with its stored settings", file=sys.stderr)


class Terminated(SystemExit):
    """A run ended by SIGTERM or SIGHUP (its exit code 128 + the signal)."""


def _terminated(signum, frame):
    """SIGTERM/SIGHUP end a run as Ctrl-C does: the run row says interrupted."""
    raise Terminated(128 + signum)


def _run(args, threads) -> int:
    import signal

    from bench.measuring import machine
    from bench.measuring.cell import MeasureSettings
    from bench.measuring.progress import RunProgress
    from bench.runner import RunConfig, run_benchmarks
    from bench.storing.store import RunBusy, Store

    thread_report = machine.configure_threads(threads)
    plugins = [str(Path(p).resolve()) for p in args.plugin]
    config = RunConfig(
        ops=args.op,
        backends=args.backend,
        devices=args.device,
        names=args.impl,
        dtypes=tuple(args.dtype or ("float32",)),
        quick=args.quick,
        settings=MeasureSettings(
            budget=args.budget,
            min_time=args.min_time if args.min_time is not None else (0.05 if args.quick else 0.2),
            seed=args.seed,
            l2_flush=not args.no_l2_flush,
            # On a cluster each node uses all of its own cores unless --threads names a number.
            threads=args.threads if args.cluster else threads,
        ),
        in_process=args.in_process,
        plugins=tuple(plugins),
        cluster=args.cluster,
        cpu_on_gpu_nodes=args.cpu_on_gpu_nodes,
        node_peaks=bool(args.cluster) and not args.no_peaks,
    )
    config.selected_ops()  # fail early on an unknown op
    if config.cluster:
        from bench.measuring.cluster import ClusterUnavailable, check_reachable, require_ray

        try:  # before any run is stored
            require_ray()
            check_reachable(args.cluster)
        except ClusterUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    store = Store(args.db)
    settings = {
        "argv": sys.argv[1:],
        "ops": config.ops,
        "backends": config.backends,
        "devices": config.devices,
        "names": config.names,
        "budget": config.settings.budget,
        "quick": config.quick,
        "min_time": config.settings.min_time,
        "dtypes": list(config.dtypes),
        "seed": config.settings.seed,
        "l2_flush": config.settings.l2_flush,
        "plugins": plugins,
        "threads": config.settings.threads,
        "in_process": config.in_process,
        "no_peaks": args.no_peaks,
        "cluster": config.cluster,
        "cpu_on_gpu_nodes": config.cpu_on_gpu_nodes,
    }
    if args.resume:
        run = store.run(args.resume)
        here = machine.machine_info()
        if args.cluster:  # the cluster's nodes each measure their own missing cells
            here = run["machine"] or {}
        changed = [k for k in ("cpu", "cores", "gpus") if (run["machine"] or {}).get(k) != here.get(k)]
        if changed:
            print(
                f"error: run {args.resume} was measured on another machine ({', '.join(changed)} differ); "
                "its missing cells must be measured there",
                file=sys.stderr,
            )
            return 2
        stored = run["settings"] or {}
        resumed = [*stored.get("resumed", []), {"argv": sys.argv[1:], "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
        settings = {**settings, **stored, "resumed": resumed}  # keys an older run lacks: as resumed now
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminated)
    started = time.monotonic()
    peaks = None
    if args.resume and store.run(args.resume).get("peaks"):
        args.no_peaks = True  # measured when the run started
    if not args.no_peaks and not args.cluster:  # on a cluster each node measures its own
        from bench.measuring.peaks import measure_all_peaks

        if not (args.json or args.quiet):
            print("measuring the machine's peaks (GEMM, memory bandwidth)...", file=sys.stderr)
        peaks = measure_all_peaks(0.3)
    printer = RunProgress(enabled=not (args.json or args.quiet), cluster=bool(args.cluster))
    try:
        with printer:
            run_id, rows = run_benchmarks(
                store,
                config,
                settings=settings,
                threads=thread_report,
                name=args.name,
                on_result=printer,
                peaks=peaks,
                resume=args.resume,
                log=None if args.json or args.quiet else printer.progress.console.print,
            )
    except RunBusy as exc:  # another process resumed it first
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.resume:  # the whole run, not only the cells measured now
        rows = store.measurements([run_id])
    unfinished = store.run(run_id)["status"] != "complete"  # a cluster node lost mid-run
    if args.json:
        from bench.measuring.cell import RUN_JSON_LEGACY_KEYS, SUMMARY_FIELDS, with_legacy_keys

        # The summary fields, and "name" as earlier versions called the implementation.
        out = [with_legacy_keys({k: r.get(k) for k in SUMMARY_FIELDS}, RUN_JSON_LEGACY_KEYS) for r in rows]
        print(json.dumps(out, indent=1))
    else:
        _summary(rows)
        print(f"\nrun {run_id}: {len(rows)} measurements in {time.monotonic() - started:.0f} s, stored in {args.db}")
    if unfinished:
        print(
            f"error: run {run_id} is incomplete (a node was lost); `python -m bench run --resume {run_id} --db "
            f"{args.db}` measures its missing cells",
            file=sys.stderr,
        )
        return 1
    return 0


def _paint(text: str, code: str) -> str:
    """ANSI colour when stdout is a terminal (and NO_COLOR is unset), plain otherwise."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return f"\033[{code}m{text}\033[0m"


def _summary(rows: list[dict]) -> None:
    """Per op and case: each implementation's median and its speedup over
    torch; the fastest correct one in bold, failures in red."""
    from bench.measuring.cell import is_baseline

    by_case: dict[tuple, list[dict]] = {}
    for r in rows:
        by_case.setdefault((r["op"], r["case"], r["dtype"], r["device"], r["machine"]), []).append(r)
    several = len({key[-1] for key in by_case}) > 1
    for (op, case, dtype, device, machine), group in by_case.items():
        torch_row = next((r for r in group if is_baseline(r["backend"], r["impl"]) and r["status"] == "ok"), None)
        cells = []
        timed = [r for r in group if r["status"] == "ok"]
        fastest = min(timed, key=lambda r: r["median_s"]) if timed else None
        for r in group:
            if r["status"] == "ok":
                speed = ""
                if torch_row:
                    ratio = torch_row["median_s"] / r["median_s"]
                    speed = " " + _paint(f"({ratio:.2f}x)", "32" if ratio > 1.05 else "31" if ratio < 0.95 else "0")
                name = _paint(r["impl"], "1") if r is fastest else r["impl"]
                cells.append(f"{name} {format_seconds(r['median_s'])}{speed}")
            elif r["status"] != "unavailable":
                cells.append(_paint(f"{r['impl']} {r['status'].upper()}", "31"))
        if cells:
            where = f" on {machine}" if several else ""
            print(f"{op:<14} {case:<18} {dtype:<8} {device:<4}{where}  " + " | ".join(cells))


def _peaks(args, threads) -> int:
    from bench.measuring import machine
    from bench.measuring.peaks import measure_all_peaks

    thread_report = machine.configure_threads(threads)
    peaks = measure_all_peaks()
    if args.db:
        from bench.storing.store import Store

        store = Store(args.db)
        run_id = store.start_run(
            machine=machine.machine_info(),
            versions=machine.versions(),
            threads=thread_report,
            settings={"argv": sys.argv[1:]},
            git_commit=machine.git_commit(),
            name="peaks",
        )
        store.set_peaks(run_id, peaks)
        store.finish_run(run_id)
    if args.json:
        print(json.dumps({**peaks, "threads": threads}, indent=1))
    else:
        print(f"threads                {threads}")
        engines = ", ".join(f"{k} {v:.0f}" for k, v in peaks["gemm_engines_gflops"].items())
        print(f"GEMM float32           {peaks['gemm_gflops']:.1f} GFLOP/s (best of: {engines})")
        print(
            f"memory bandwidth       {peaks['bandwidth_gbps']:.1f} GB/s (copy {peaks['stream_copy_gbps']:.1f}, "
            f"triad {peaks['stream_triad_gbps']:.1f})"
        )
        if "cache_bandwidth_gbps" in peaks:
            print(
                f"cache bandwidth        {peaks['cache_bandwidth_gbps']:.1f} GB/s "
                f"(in the {peaks['llc_bytes'] / 2**20:g} MiB last-level cache)"
            )
        print(f"harness overhead       {peaks['harness_overhead_s'] * 1e9:.0f} ns per timed call (empty function)")
        if "gpu" in peaks:
            gpu = peaks["gpu"]
            print(f"GPU                    {gpu['device']}")
            print(f"GPU GEMM float32       {gpu['gemm_gflops'] / 1e3:.2f} TFLOP/s (TF32 off)")
            print(f"GPU memory bandwidth   {gpu['bandwidth_gbps']:.0f} GB/s (device-to-device copy)")
    return 0


def _headline(args, threads) -> int:
    from bench.measuring import machine
    from bench.measuring.headline import run_headline

    if args.rounds < 1:
        print("error: --rounds must be at least 1", file=sys.stderr)
        return 2
    machine.configure_threads(threads)
    for op in args.op or ():
        import impls

        impls.spec(op)
    log = (lambda message: None) if args.json else (lambda message: print(message, file=sys.stderr, flush=True))
    plugins = tuple(str(Path(p).resolve()) for p in args.plugin)
    _, results = run_headline(
        rounds=args.rounds, ops=args.op, budget=args.budget, log=log, threads=threads, in_process=args.in_process,
        plugins=plugins, names=args.impl,
    )  # fmt: skip
    if args.json:
        internal = ("medians", "bound", "cost")
        print(json.dumps([{k: v for k, v in r.items() if k not in internal} for r in results], indent=1))
        return 0
    print(
        f"{'op':<15}{'case':<20}{'best':<16}{'best':>10}{'torch':>10}{'torch/best (95% CI)':>22}"
        f"{'of peak (95% CI)':>19}"
    )
    for r in results:
        rate = "".join(f"  {v:,.0f} {k.replace('_per_s', '')}/s" for k, v in r.items() if k.endswith("_per_s"))
        fraction = "-"
        if r.get("fraction_of_peak") is not None:
            fraction = f"{r['fraction_of_peak']:.0%}"
            if r.get("fraction_of_peak_low") is not None:
                fraction += f" ({r['fraction_of_peak_low']:.0%}-{r['fraction_of_peak_high']:.0%})"
        speedup = "-"
        if r.get("speedup"):
            speedup = f"{r['speedup']:.2f}x ({r['speedup_low']:.2f}-{r['speedup_high']:.2f})"
        print(
            f"{r['op']:<15}{r['case']:<20}{r['best'] or '-':<16}{format_seconds(r['best_s']):>10}"
            f"{format_seconds(r['torch_s']):>10}{speedup:>22}{fraction:>19}{rate}"
        )
    for r in results:
        for name, failure in r["failures"].items():
            print(f"{r['op']} {r['case']}: {name} left out, {failure['status'].upper()}: {failure['error']}")
    return 0


def _report(args, threads) -> int:
    from bench.reporting import report

    dbs = _stores(args)
    if dbs is None:
        return 2
    pages = report.write_report(dbs, Path(args.out), run_ids=args.run)
    print(f"wrote {len(pages)} files under {args.out}/ (open {Path(args.out) / 'index.html'})")
    return 0


def _stores(args) -> list[str] | None:
    dbs = args.db or [str(DEFAULT_DB)]
    for db in dbs:
        if not Path(db).exists():
            print(f"error: no results store at {db}; run `python -m bench run` first (or pass --db)", file=sys.stderr)
            return None
    return dbs


def _runs(args, threads) -> int:
    from bench.reading.runs import all_runs, run_summary

    dbs = _stores(args)
    if dbs is None:
        return 2
    runs = [run_summary(r) for r in all_runs(dbs)]
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    print(f"{'run':<24}{'name':<16}{'started':<27}{'status':<13}{'cells':>6}  machine")
    for r in runs:
        machine = r["machine"] or {}
        where = f"{machine.get('hostname', '?')} ({machine.get('cpu', '?')}, {machine.get('cores', '?')} cores)"
        gpus = ", ".join(g["name"] for g in machine.get("gpus") or [])
        print(
            f"{r['run_id']:<24}{(r['name'] or '-')[:15]:<16}{r['started']:<27}{r['status']:<13}"
            f"{r['measurements']:>6}  {where}{' + ' + gpus if gpus else ''}"
        )
    return 0


def _compare(args, threads) -> int:
    from bench.reading.compare import compare_runs, manifest_differences, parse_threshold

    try:
        threshold = parse_threshold(args.threshold)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dbs = _stores(args)
    if dbs is None:
        return 2
    run_a, run_b, verdicts = compare_runs(dbs, args.run_a, args.run_b, threshold)
    verdicts = [v for v in verdicts if not args.op or v.key[0] in args.op]
    for difference in manifest_differences(run_a, run_b):
        print(f"warning: the runs' manifests differ: {difference}", file=sys.stderr)
    regressions = [v for v in verdicts if v.regression]
    if args.json:
        print(json.dumps([v.as_dict() for v in verdicts], indent=1))
    else:
        colour = {"faster": "32", "slower": "31", "same": "0", "uncertain": "33", "not compared": "2"}
        tty = sys.stdout.isatty()
        print(
            f"A = {run_a['run_id']} ({run_a['started']}), B = {run_b['run_id']} ({run_b['started']}), "
            f"threshold {threshold:.0%}"
        )
        for v in verdicts:
            op, impl, device, case, dtype = v.key
            verdict = f"\033[{colour[v.verdict]}m{v.verdict}\033[0m" if tty else v.verdict
            if v.ratio is None:
                detail = v.note
            else:
                detail = f"B/A {v.ratio:.3f} (99% CI {v.low:.3f}-{v.high:.3f}, p={v.p_value:.2g})"
            where = f" on {v.machine}" if v.machine else ""
            print(f"{op}/{impl} {device} {case} {dtype}{where}: {verdict}  {detail}")
        counts = {k: sum(v.verdict == k for v in verdicts) for k in colour}
        print(", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if regressions:
        print(f"{len(regressions)} significant regression(s) beyond {threshold:.0%}", file=sys.stderr)
        return 1
    return 0


def _history(args, threads) -> int:
    from bench.reading.history import history

    dbs = _stores(args)
    if dbs is None:
        return 2
    import impls

    for op in args.op or ():
        impls.spec(op)
    rows = [r for r in history(dbs) if not args.op or r["op"] in args.op]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    by_cell: dict[tuple, list[dict]] = {}
    for r in rows:
        by_cell.setdefault((r["op"], r["case"], r["dtype"], r["device"], r["impl"], r["machine"]), []).append(r)
    several = len({key[-1] for key in by_cell}) > 1
    for (op, case, dtype, device, impl, machine), cells in by_cell.items():
        impl = f"{impl}@{machine}" if several else impl
        trail = "  ".join(f"{c['run_id'][:15]} {format_seconds(c['median_s'])}" for c in cells)
        print(f"{op:<14} {case:<18} {dtype:<8} {device:<4} {impl:<16} {trail}")
    return 0


def _export(args, threads) -> int:
    from bench.reading.export import export_run
    from bench.reading.runs import all_runs, find_run

    dbs = _stores(args)
    if dbs is None:
        return 2
    run = find_run(all_runs(dbs), args.run)
    text, count = export_run(run, args.format)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {count} measurements of run {run['run_id']} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
