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

The roof that bounds the case (the best GEMM engine, or STREAM on arrays
beyond or within the last-level cache) takes part in the same rounds, in
this process.  For each case: the fastest correct implementation that is not
the baseline, its median, the baseline's median, and two ratios taken round
by round, so that a slow stretch of a shared machine falls on both sides of
each: the baseline's time over the best's (the speedup) and the best's rate
over the roof's (the fraction of peak); each the median over rounds with a
95 % bootstrap interval of that median.
"""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import scipy.stats

import impls
from bench.measuring import peaks as _peaks
from bench.measuring import timer
from bench.measuring.cell import BASELINE_BACKEND, Cell, MeasureSettings, is_baseline

ROUND_TIME = 2e-3  # seconds per implementation per round: keeps the clock's cost out of µs calls
CONFIDENCE = 0.95  # of the intervals of the median per-round ratios


def median_interval(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The median of per-round ratios and a percentile-bootstrap interval of
    it (SciPy); with fewer than three rounds, their range."""
    if len(values) < 3:
        return statistics.median(values), min(values), max(values)
    found = scipy.stats.bootstrap(
        (np.asarray(values),), np.median, confidence_level=CONFIDENCE, n_resamples=2000, method="percentile",
        random_state=seed,
    )  # fmt: skip
    low, high = found.confidence_interval
    return statistics.median(values), float(low), float(high)


def _roof(bound: str, machine_peaks: dict, roofs: dict):
    """The roof probe for ``bound``, made once per run (``roofs`` keeps it);
    None where the peaks do not say which engine or cache to probe (peaks
    stored by an older version, or written by hand)."""
    if bound not in roofs:
        try:
            roofs[bound] = _peaks.roof_probe(bound, machine_peaks)
        except (KeyError, TypeError, ValueError):
            roofs[bound] = None
    return roofs[bound]


def _roof_round(probe, number: int) -> float:
    """One timed round of a roof probe: its rate (GFLOP/s or GB/s)."""
    call, work, _ = probe
    start = timer.CLOCK()
    for _ in range(number):
        call()
    return work * number / (timer.CLOCK() - start)


def _candidates(spec, case, names=None):
    return [
        impl
        for impl in impls.implementations(op=spec.name, device="cpu")
        if impl.available and impl.supports("float32") and (case.small or not impl.small_only)
        and (not names or impl.name in names)
    ]  # fmt: skip


def headline_case(
    spec, case, rounds: int, machine_peaks: dict | None, executor, log=lambda message: None, names=None,
    roofs: dict | None = None,
) -> dict:
    """``names``: only these implementations (default: every available one).
    ``roofs``: the roof probes made so far in this run, shared across cases."""
    from bench.measuring.executors import ContenderFailed

    settings = executor.settings
    roofs = {} if roofs is None else roofs
    contenders, failures = {}, {}
    for impl in _candidates(spec, case, names):
        contender = executor.contend(Cell(spec.name, impl.name, "cpu", case.name, "float32", settings))
        m = contender.measurement
        if m.status != "ok":
            failures[impl.name] = {"status": m.status, "error": m.error}
            log(f"  {impl.name}: {m.status} {m.error or ''}".rstrip())
            continue
        contenders[impl.name] = {"impl": impl, "round": contender.round, "number": _number(m.first_call_s),
                                 "times": []}  # fmt: skip
    # The case's data as the executor made it for the checks (made if any contender was checked).
    data = executor.case_data(spec, case, "float32", settings.seed) if contenders else None
    costs = {name: _cost(spec, data, e["impl"]) for name, e in contenders.items()}
    # The roofs that bound the case (one, unless an implementation performs fewer FLOPs), as contenders too.
    bounds = {_peaks.fraction_of_peak(f, b, 1.0, machine_peaks, w)[1] for f, b, w in costs.values()} - {None}
    for bound in sorted(bounds):
        probe = _roof(bound, machine_peaks, roofs)
        if probe is not None:
            start = timer.CLOCK()
            probe[0]()  # a first call, which also sizes its rounds
            number = _number(timer.CLOCK() - start)
            contenders[f"roof:{bound}"] = {"round": lambda n, p=probe: _roof_round(p, n), "number": number,
                                           "times": []}  # fmt: skip

    order = list(contenders)
    for _ in range(rounds):
        random.shuffle(order)  # no contender always runs right after the same neighbour
        for name in list(order):
            entry = contenders[name]
            try:
                entry["times"].append(entry["round"](entry["number"]))
            except ContenderFailed as exc:
                failures[name] = {"status": exc.measurement.status, "error": exc.measurement.error}
                log(f"  {name}: {exc.measurement.status} in a timed round: {exc.measurement.error}")
                order.remove(name)
                del contenders[name]

    roof_rates = {n[len("roof:"):]: e["times"] for n, e in contenders.items() if n.startswith("roof:")}
    timed = {n: e for n, e in contenders.items() if not n.startswith("roof:") and e["times"]}
    medians = {name: statistics.median(e["times"]) for name, e in timed.items()}
    baseline = next((n for n in medians if is_baseline(timed[n]["impl"].backend, n)), None)
    others = {n: t for n, t in medians.items() if timed[n]["impl"].backend != BASELINE_BACKEND}
    result = {"op": spec.name, "case": case.name, "medians": medians, "failures": failures}
    torch_s = medians.get(baseline) if baseline else None
    none = dict.fromkeys(("speedup", "speedup_low", "speedup_high", "fraction_of_peak", "fraction_of_peak_low",
                          "fraction_of_peak_high", "roof"))  # fmt: skip
    if not others:
        return {**result, "best": None, "best_s": None, "torch_s": torch_s, **none}
    best = min(others, key=others.get)
    best_s, best_times = others[best], timed[best]["times"]
    result.update(none, cost=costs[best], best=best, best_s=best_s, torch_s=torch_s)
    if torch_s:
        per_round = [t / b for t, b in zip(timed[baseline]["times"], best_times)]
        result["speedup"], result["speedup_low"], result["speedup_high"] = median_interval(per_round)
    flops, nbytes, flops_are_work = costs[best]
    result["fraction_of_peak"], result["bound"] = _peaks.fraction_of_peak(
        flops, nbytes, best_s, machine_peaks, flops_are_work
    )
    rates = roof_rates.get(result["bound"])
    if rates:  # the best's rate over the roof's, round by round
        key = roofs[result["bound"]][2]
        per_round = [
            _peaks.fraction_of_peak(flops, nbytes, seconds, {**machine_peaks, key: rate}, flops_are_work)[0]
            for seconds, rate in zip(best_times, rates)
        ]
        result["fraction_of_peak"], result["fraction_of_peak_low"], result["fraction_of_peak_high"] = (
            median_interval(per_round)
        )
        result["roof"] = {"bound": result["bound"], "rate": statistics.median(rates),
                          "unit": "GFLOP/s" if result["bound"] == "compute" else "GB/s"}  # fmt: skip
    throughput = data["throughput"]
    if throughput:
        result[f"{throughput[1]}_per_s"] = throughput[0] / best_s
    return result


def _number(first_call_s: float) -> int:
    """Calls per round: enough for ROUND_TIME where one call is shorter."""
    return max(1, math.ceil(ROUND_TIME / max(first_call_s, 1e-9))) if first_call_s < ROUND_TIME else 1


def _cost(spec, data, impl) -> tuple:
    """(FLOPs the implementation performs, bytes, whether FLOPs are the op's work)."""
    work = impl.work_flops(data["inputs"])  # a fast algorithm's own FLOPs, where declared
    return (data["flops"] if work is None else work), data["bytes"], spec.flops_are_work


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
    """Every headline case.  The machine's peaks are probed once, to choose
    each case's roof; the roofs themselves are timed in each case's rounds."""
    from bench.measuring.executors import InProcess, Workers

    settings = MeasureSettings(budget=budget, threads=threads)
    executor = InProcess(settings) if in_process else Workers(settings, plugins)
    machine_peaks = _peaks.measure_peaks(0.3)
    log(f"peaks: GEMM {machine_peaks['gemm_gflops']:.0f} GFLOP/s, bandwidth {machine_peaks['bandwidth_gbps']:.0f} GB/s")
    results, roofs = [], {}
    try:
        for op in impls.ops():
            spec = impls.spec(op)
            if ops and op not in ops:
                continue
            for case_name in spec.headline:
                log(f"{op} {case_name}")
                case = spec.case(case_name)
                results.append(
                    headline_case(spec, case, rounds, machine_peaks, executor, log=log, names=names, roofs=roofs)
                )
        executor.close()
    except BaseException:
        executor.close(now=True)
        raise
    return machine_peaks, results
