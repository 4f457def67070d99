"""Headline comparison: each op's headline cases with every available CPU
implementation side by side, rounds interleaved so that drift of a shared
machine falls on all of them alike.

Each implementation is first checked as in a run (first call, the check
against the reference, the check on the next seed's inputs) by an executor:
in a worker process of its own by default, so that one that crashes, hangs,
raises or answers wrong is recorded as such (``failures``) and left out
rather than taking the comparison down; in this process with
``in_process``.  The rounds then ask each contender in turn, in a shuffled
order, for one round of calls timed where they run.

For each case: the fastest correct implementation that is not the baseline,
its median, the baseline's median, the ratio baseline / best and the
fraction of the machine's peak it reaches.
"""

from __future__ import annotations

import math
import random
import statistics

import impls
from bench.measuring import peaks as _peaks
from bench.measuring.cell import BASELINE_BACKEND, Cell, MeasureSettings, is_baseline

ROUND_TIME = 2e-3  # seconds per implementation per round: keeps the clock's cost out of µs calls


def _candidates(spec, case, names=None):
    return [
        impl
        for impl in impls.implementations(op=spec.name, device="cpu")
        if impl.available and impl.supports("float32") and (case.small or not impl.small_only)
        and (not names or impl.name in names)
    ]  # fmt: skip


def headline_case(
    spec, case, rounds: int, machine_peaks: dict | None, executor, log=lambda message: None, names=None
) -> dict:
    """``names``: only these implementations (default: every available one)."""
    from bench.measuring.executors import ContenderFailed

    settings = executor.settings
    contenders, failures = {}, {}
    for impl in _candidates(spec, case, names):
        contender = executor.contend(Cell(spec.name, impl.name, "cpu", case.name, "float32", settings))
        m = contender.measurement
        if m.status != "ok":
            failures[impl.name] = {"status": m.status, "error": m.error}
            log(f"  {impl.name}: {m.status} {m.error or ''}".rstrip())
            continue
        first = m.first_call_s
        number = max(1, math.ceil(ROUND_TIME / max(first, 1e-9))) if first < ROUND_TIME else 1
        contenders[impl.name] = {"impl": impl, "contender": contender, "number": number, "times": []}

    order = list(contenders)
    for _ in range(rounds):
        random.shuffle(order)  # no implementation always runs right after the same neighbour
        for name in list(order):
            entry = contenders[name]
            try:
                entry["times"].append(entry["contender"].round(entry["number"]))
            except ContenderFailed as exc:
                failures[name] = {"status": exc.measurement.status, "error": exc.measurement.error}
                log(f"  {name}: {exc.measurement.status} in a timed round: {exc.measurement.error}")
                order.remove(name)
                del contenders[name]

    medians = {name: statistics.median(e["times"]) for name, e in contenders.items() if e["times"]}
    baseline = next((n for n in medians if is_baseline(contenders[n]["impl"].backend, n)), None)
    others = {n: t for n, t in medians.items() if contenders[n]["impl"].backend != BASELINE_BACKEND}
    result = {"op": spec.name, "case": case.name, "medians": medians, "failures": failures}
    torch_s = medians.get(baseline) if baseline else None
    if not others:
        return {**result, "best": None, "best_s": None, "torch_s": torch_s, "speedup": None, "fraction_of_peak": None}
    best = min(others, key=others.get)
    best_s = others[best]
    # The case's data as the executor made it for the checks (a contender was checked, so it was made).
    data = executor.case_data(spec, case, "float32", settings.seed)
    work = contenders[best]["impl"].work_flops(data["inputs"])  # a fast algorithm's own FLOPs, where declared
    flops = data["flops"] if work is None else work
    cost = (flops, data["bytes"], spec.flops_are_work)
    fraction, bound = _peaks.fraction_of_peak(cost[0], cost[1], best_s, machine_peaks, cost[2])
    result.update(
        cost=cost,
        best=best,
        best_s=best_s,
        torch_s=torch_s,
        speedup=(torch_s / best_s) if torch_s else None,
        fraction_of_peak=fraction,
        bound=bound,
    )
    throughput = data["throughput"]
    if throughput:
        result[f"{throughput[1]}_per_s"] = throughput[0] / best_s
    return result


def run_headline(
    rounds: int = 10,
    ops: list[str] | None = None,
    budget: float = 30.0,
    log=lambda m: None,
    *,
    threads: int | None = None,
    in_process: bool = False,
    plugins: tuple[str, ...] = (),
    names: list[str] | None = None,
):
    """Every headline case; the machine's peaks are probed before and after
    and the higher of each taken (a neighbour busy during one short probe
    would otherwise lower the roof and push fractions past 1)."""
    from bench.measuring.executors import InProcess, Workers

    settings = MeasureSettings(budget=budget, threads=threads)
    executor = InProcess(settings) if in_process else Workers(settings, plugins)
    before = _peaks.measure_peaks(0.3)
    log(f"peaks: GEMM {before['gemm_gflops']:.0f} GFLOP/s, bandwidth {before['bandwidth_gbps']:.0f} GB/s")
    results = []
    try:
        for op in impls.ops():
            spec = impls.spec(op)
            if ops and op not in ops:
                continue
            for case_name in spec.headline:
                log(f"{op} {case_name}")
                case = spec.case(case_name)
                results.append(headline_case(spec, case, rounds, before, executor, log=log, names=names))
        executor.close()
    except BaseException:
        executor.close(now=True)
        raise
    after = _peaks.measure_peaks(0.3)
    best_of = ("gemm_gflops", "bandwidth_gbps", "cache_bandwidth_gbps")
    machine_peaks = {**after, **{k: max(before[k], after[k]) for k in best_of if k in before and k in after}}
    log(f"peaks after: GEMM {after['gemm_gflops']:.0f} GFLOP/s, bandwidth {after['bandwidth_gbps']:.0f} GB/s")
    for result in results:
        if result.get("cost") and result.get("best_s"):
            flops, nbytes, flops_are_work = result["cost"]
            result["fraction_of_peak"], result["bound"] = _peaks.fraction_of_peak(
                flops, nbytes, result["best_s"], machine_peaks, flops_are_work
            )
    return machine_peaks, results
