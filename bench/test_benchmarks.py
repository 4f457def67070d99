"""The benchmark matrix as pytest-benchmark tests, for users of its tooling
(--benchmark-compare, --benchmark-histogram, --benchmark-json):

    pytest bench --benchmark-only [--op nms] [--backend ext] [--device cpu] [--quick]

One test per available implementation x case (float32). Each is first called
and checked by the harness's own measuring code (bench/measuring/measure.py), against
the reference and on the next seed's inputs, as `bench run` does, so a wrong
answer fails instead of being timed; the timed target calls the
implementation on inputs already on its device and, for GPU backends, waits
for the device to finish.
`python -m bench run` remains the suite's own harness (budgets, peaks, store).
"""

from __future__ import annotations

import pytest

from bench.measuring.cell import Cell, MeasureSettings
from bench.measuring.executors import InProcess
from conftest import selected_implementations

BUDGET = 60.0  # seconds the first call may take (a Numba JIT included)


def pytest_generate_tests(metafunc):
    if "impl" not in metafunc.fixturenames:
        return
    quick = metafunc.config.getoption("--quick")
    params = []
    for impl in selected_implementations(metafunc.config):
        if not impl.supports("float32"):
            continue
        for case in impl.spec.cases:
            if (impl.small_only or quick) and not case.small:
                continue
            marks = [pytest.mark.gpu] if impl.device == "cuda" else []
            params.append(pytest.param(impl, case, id=f"{impl.key}-{case.name}", marks=marks))
    metafunc.parametrize("impl, case", params)


def test_benchmark(benchmark, impl, case):
    if not impl.available:
        pytest.skip(impl.reason)
    # The first call and both checks (the reference, then the next seed's
    # inputs) as `bench run` makes them: a wrong answer fails, not timed.
    executor = InProcess(MeasureSettings(budget=BUDGET))
    contender = executor.contend(Cell(impl.op, impl.name, impl.device, case.name, "float32", executor.settings))
    measurement = contender.measurement
    assert measurement.status == "ok", f"{measurement.status}: {measurement.error}"

    benchmark.group = f"{impl.op}/{case.name}"
    benchmark.extra_info.update(op=impl.op, case=case.name, backend=impl.backend, device=impl.device)
    benchmark.extra_info.update(first_call_s=measurement.first_call_s, max_abs_err=measurement.max_abs_err)
    # One call on inputs already on its device; on a GPU it waits for the device to finish.
    benchmark(contender.call)
