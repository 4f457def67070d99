"""Comparing two stored runs: `bench compare A B`.

A comparison pairs the measurements of two runs by (op, implementation,
device, case, dtype) and asks of each pair whether B is faster or slower than
A.  The ratio is B's median over A's; whether it is real is decided from the
stored rounds of both: a Mann-Whitney U test (no assumption about the shape of
the timing distribution, which is skewed by interruptions) and a bootstrap
confidence interval of the ratio of medians.  A pair is

- ``slower`` / ``faster``: significant, and the whole confidence interval lies
  beyond the threshold,
- ``same``: the confidence interval lies within the threshold,
- ``uncertain``: anything else (too few rounds, too much spread).

So two runs of the same code come out "same" or "uncertain", never "slower",
unless the machine itself changed speed by more than the threshold.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import numpy as np
import scipy.stats

from bench.measuring.cell import CELL_KEY, FAILURES, cell_key
from bench.reading.runs import all_runs, find_run, measurements

ALPHA = 0.01  # significance level of the U test
BOOTSTRAP = 2000  # resamples for the ratio's confidence interval
CONFIDENCE = 0.99
# Manifest fields whose difference makes timings hard to compare.
MANIFEST = (("machine", "cpu"), ("machine", "cores"), ("machine", "gpus"), ("versions", None), ("threads", None))


def manifest_differences(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two runs' manifests."""
    out = []
    for section, field in MANIFEST:
        left, right = a.get(section) or {}, b.get(section) or {}
        if field is None:
            for key in sorted(set(left) | set(right)):
                if left.get(key) != right.get(key):
                    out.append(f"{section}.{key}: {left.get(key)!r} -> {right.get(key)!r}")
        elif left.get(field) != right.get(field):
            out.append(f"{section}.{field}: {left.get(field)!r} -> {right.get(field)!r}")
    return out


# -- statistics -----------------------------------------------------------------
def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with
    tie and continuity corrections: timings have ties, and 5+ rounds each)."""
    if not a or not b or len(set(a) | set(b)) == 1:
        return 1.0
    return float(scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue)


def ratio_interval(a: list[float], b: list[float], seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of median(b) / median(a)."""
    if len(a) < 2 or len(b) < 2:  # nothing to resample: the ratio itself, no spread known
        ratio = statistics.median(b) / statistics.median(a)
        return ratio, ratio
    result = scipy.stats.bootstrap(
        (np.asarray(a), np.asarray(b)),
        lambda x, y, axis: np.median(y, axis=axis) / np.median(x, axis=axis),
        n_resamples=BOOTSTRAP,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclasses.dataclass
class Verdict:
    key: tuple  # (op, impl, device, case, dtype)
    verdict: str  # faster / slower / same / uncertain, or "not compared"
    ratio: float | None = None  # median B / median A
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    note: str = ""
    machine: str | None = None  # where the runs span several machines: the one both cells were measured on

    @property
    def regression(self) -> bool:
        return self.verdict == "slower" or self.note.startswith("broken")

    def as_dict(self) -> dict:
        return {
            **dict(zip(CELL_KEY, self.key)),
            "machine": self.machine,
            "verdict": self.verdict,
            "ratio": self.ratio,
            "ci_low": self.low,
            "ci_high": self.high,
            "p_value": self.p_value,
            "note": self.note,
        }


def judge(a: dict, b: dict, threshold: float) -> Verdict:
    key = cell_key(a)
    if a["status"] != "ok" or b["status"] != "ok":
        broken = a["status"] == "ok" and b["status"] in FAILURES
        note = f"{'broken: ' if broken else ''}status {a['status']} -> {b['status']}"
        return Verdict(key, "not compared", note=note)
    times_a, times_b = a["times"] or [a["median_s"]], b["times"] or [b["median_s"]]
    ratio = statistics.median(times_b) / statistics.median(times_a)
    p = mann_whitney_p(times_a, times_b)
    low, high = ratio_interval(times_a, times_b)
    if p < ALPHA and low > 1 + threshold:
        verdict = "slower"
    elif p < ALPHA and high < 1 / (1 + threshold):
        verdict = "faster"
    elif low >= 1 / (1 + threshold) and high <= 1 + threshold:
        verdict = "same"
    else:
        verdict = "uncertain"
    return Verdict(key, verdict, ratio, low, high, p)


def compare_runs(dbs: list[str | Path], ref_a: str, ref_b: str, threshold: float) -> tuple[dict, dict, list[Verdict]]:
    """Pair the cells of two runs. Where either spans several machines (a
    cluster), cells pair only with the same machine's."""
    runs = all_runs(dbs)
    run_a, run_b = find_run(runs, ref_a), find_run(runs, ref_b)
    stored_a, stored_b = measurements(run_a), measurements(run_b)
    by_machine = len({m["machine"] for m in stored_a}) > 1 or len({m["machine"] for m in stored_b}) > 1
    pair = (lambda m: (*cell_key(m), m["machine"])) if by_machine else cell_key
    rows_a, rows_b = ({pair(m): m for m in stored} for stored in (stored_a, stored_b))
    verdicts = []
    for key, a in rows_a.items():
        verdict = judge(a, rows_b[key], threshold) if key in rows_b else Verdict(
            key[:5], "not compared", note=f"only in {run_a['run_id']}"
        )  # fmt: skip
        verdict.machine = a["machine"] if by_machine else None
        verdicts.append(verdict)
    for key, b in rows_b.items():
        if key not in rows_a:
            only = f"only in {run_b['run_id']}"
            verdicts.append(Verdict(key[:5], "not compared", note=only, machine=b["machine"] if by_machine else None))
    return run_a, run_b, verdicts


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= value < 10:
        raise ValueError(f"--threshold must be a fraction such as 0.05 or a percentage such as 5%; got {text!r}")
    return value
