"""Headline comparison: each op's headline cases with every available CPU
implementation side by side in one process, rounds interleaved so that drift
of a shared machine falls on all of them alike.

For each case: the fastest correct implementation that is not stock torch,
its median, torch's median, the ratio torch / best and the fraction of the
machine's peak it reaches.
"""

from __future__ import annotations

import functools
import math
import random
import statistics

import impls
from bench import peaks as _peaks
from bench import timer
from bench.measure import BudgetExceeded, call_with_budget

ROUND_TIME = 2e-3  # seconds per implementation per round: keeps the clock's cost out of µs calls


def _candidates(spec, case):
    return [
        impl
        for impl in impls.implementations(op=spec.name, device="cpu")
        if impl.available and impl.supports("float32") and (case.small or not impl.small_only)
    ]


def headline_case(
    spec, case, rounds: int, machine_peaks: dict | None, budget: float, seed: int = 0, log=lambda message: None
) -> dict:
    inputs = spec.validate(**spec.make_inputs(case, "float32", seed))
    expected = spec.reference(**inputs)
    next_case = []  # the inputs of seed + 1 and their reference, made when first needed
    entries = {}
    for impl in _candidates(spec, case):
        native = impl.prepare(inputs)
        try:
            start = timer.CLOCK()
            output = call_with_budget(functools.partial(impl.call, native), budget)
            first = timer.CLOCK() - start
        except BudgetExceeded:
            log(f"  {impl.name}: over the {budget:g} s budget, left out")
            continue
        except Exception as exc:
            log(f"  {impl.name}: error {type(exc).__name__}: {exc}")
            continue
        verdict = spec.compare(impl.to_numpy(output, inputs), expected, inputs)
        if verdict.ok:  # and once more on other inputs: a memorised or lucky answer is no win
            if not next_case:
                next_inputs = spec.validate(**spec.make_inputs(case, "float32", seed + 1))
                next_case = [next_inputs, spec.reference(**next_inputs)]
            try:
                next_output = call_with_budget(functools.partial(impl.call, impl.prepare(next_case[0])), budget)
                verdict = spec.compare(impl.to_numpy(next_output, next_case[0]), next_case[1], next_case[0])
            except BudgetExceeded:
                log(f"  {impl.name}: over the {budget:g} s budget on seed {seed + 1}, left out")
                continue
            except Exception as exc:
                log(f"  {impl.name}: error on seed {seed + 1}: {type(exc).__name__}: {exc}")
                continue
        if not verdict.ok:
            log(f"  {impl.name}: MISMATCH {verdict.message}")
            continue
        number = max(1, math.ceil(ROUND_TIME / max(first, 1e-9))) if first < ROUND_TIME else 1
        entries[impl.name] = {"impl": impl, "native": native, "number": number, "times": [], "first": first}

    order = list(entries)
    for _ in range(rounds):
        random.shuffle(order)  # no implementation always runs right after the same neighbour
        for name in order:
            entry = entries[name]
            impl, native, number = entry["impl"], entry["native"], entry["number"]
            begin = timer.CLOCK()
            for _ in range(number):
                impl.call(native)
            entry["times"].append((timer.CLOCK() - begin) / number)

    medians = {name: statistics.median(e["times"]) for name, e in entries.items() if e["times"]}
    contenders = {n: t for n, t in medians.items() if entries[n]["impl"].backend != "torch"}
    result = {"op": spec.name, "case": case.name, "medians": medians}
    if not contenders:
        return {
            **result,
            "best": None,
            "best_s": None,
            "torch_s": medians.get("torch"),
            "speedup": None,
            "fraction_of_peak": None,
        }
    best = min(contenders, key=contenders.get)
    best_s = contenders[best]
    torch_s = medians.get("torch")
    work = entries[best]["impl"].work_flops(inputs)  # a fast algorithm's own FLOPs, where it declares them
    flops = float(spec.flops(**inputs)) if work is None else work
    cost = (flops, float(spec.bytes_moved(**inputs)), spec.flops_are_work)
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
    throughput = spec.throughput(**inputs)
    if throughput:
        result[f"{throughput[1]}_per_s"] = throughput[0] / best_s
    return result


def run_headline(rounds: int = 10, ops: list[str] | None = None, budget: float = 30.0, log=lambda m: None):
    """Every headline case; the machine's peaks are probed before and after
    and the higher of each taken (a neighbour busy during one short probe
    would otherwise lower the roof and push fractions past 1)."""
    before = _peaks.measure_peaks(0.3)
    log(f"peaks: GEMM {before['gemm_gflops']:.0f} GFLOP/s, bandwidth {before['bandwidth_gbps']:.0f} GB/s")
    results = []
    for op in impls.ops():
        spec = impls.spec(op)
        if ops and op not in ops:
            continue
        for case_name in spec.headline:
            log(f"{op} {case_name}")
            results.append(headline_case(spec, spec.case(case_name), rounds, before, budget, log=log))
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
