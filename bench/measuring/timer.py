"""The timer: warm-up, then adaptive rounds until a minimum measuring time.

A round calls the implementation ``number`` times back to back and stores
the mean per call; ``number`` is chosen so that one round lasts at least
``round_time``, which keeps the clock's own cost (tens of ns) out of
microsecond figures.  Statistics are over rounds.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable

CLOCK = time.perf_counter  # monotonic, the highest resolution the OS offers


@dataclasses.dataclass
class Stats:
    """Per-call seconds, summarised over rounds (every round kept in ``times``)."""

    times: list[float]
    number: int  # calls per round

    @property
    def rounds(self) -> int:
        return len(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def q1(self) -> float:
        return _quantile(self.times, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.times, 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times)

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.times) if len(self.times) > 1 else 0.0

    def summary(self) -> dict:
        return {
            "min_s": self.min,
            "median_s": self.median,
            "q1_s": self.q1,
            "q3_s": self.q3,
            "iqr_s": self.iqr,
            "mean_s": self.mean,
            "stdev_s": self.stdev,
            "rounds": self.rounds,
            "number": self.number,
        }


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (NumPy's default), without NumPy."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def measure(
    fn: Callable[[], object],
    *,
    sync: Callable[[], None] | None = None,
    min_time: float = 0.2,
    max_time: float = 10.0,
    warmup_time: float = 0.05,
    round_time: float = 1e-3,
    min_rounds: int = 5,
    max_rounds: int = 2000,
    number: int | None = None,
    clock: Callable[[], float] = CLOCK,
    timed_calls: Callable[[int], float] | None = None,
) -> Stats:
    """Time ``fn()`` (its first call, with any JIT, already made by the caller).

    Warm-up runs for ``warmup_time``; rounds then continue until both
    ``min_time`` has been spent measuring and ``min_rounds`` are stored, or
    until ``max_time`` or ``max_rounds`` stops them (at least one round is
    always stored).  ``sync`` runs inside each round, after the calls, so
    asynchronous devices are waited for.  Given ``number`` (calls per round)
    and no ``warmup_time``, measuring starts at once.

    ``timed_calls(n)``, when given, makes ``n`` calls and returns the seconds
    they took by its own clock (a GPU's events, excluding an L2 flush between
    calls); ``clock`` then measures only the time spent, against
    ``min_time``/``max_time``, and the warm-up.
    """
    sync = sync or (lambda: None)
    if number is None or warmup_time > 0:
        # Warm-up, which also estimates the cost of one call.
        calls = 0
        start = clock()
        while True:
            fn()
            sync()
            calls += 1
            elapsed = clock() - start
            if elapsed >= warmup_time or elapsed >= max_time:
                break
        per_call = elapsed / calls
        if number is None:
            number = max(1, math.ceil(round_time / per_call)) if per_call > 0 else 1000

    times: list[float] = []
    spent = 0.0
    while True:
        begin = clock()
        if timed_calls is None:
            for _ in range(number):
                fn()
            sync()
            duration = measured = clock() - begin
        else:
            measured = timed_calls(number)
            duration = clock() - begin
        times.append(measured / number)
        spent += duration
        if len(times) >= max_rounds or spent >= max_time:
            break
        if spent >= min_time and len(times) >= min_rounds:
            break
    return Stats(times, number)
