"""The benchmark matrix as pytest-benchmark tests, for users of its tooling
(--benchmark-compare, --benchmark-histogram, --benchmark-json):

    pytest bench --benchmark-only [--op nms] [--backend ext] [--device cpu] [--quick]

One test per available implementation x case (float32). Each first checks its
output against the reference, as `bench run` does, so a wrong answer fails
instead of being timed; the timed target calls the implementation on inputs
already on its device and, for GPU backends, waits for the device to finish.
`python -m bench run` remains the suite's own harness (budgets, peaks, store).
"""

from __future__ import annotations

import pytest

from conftest import selected_implementations


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
    spec = impl.spec
    inputs = spec.validate(**spec.make_inputs(case, "float32", 0))
    native = impl.prepare(inputs)
    verdict = spec.compare(impl.to_numpy(impl.call(native), inputs), spec.reference(**inputs), inputs)
    assert verdict.ok, verdict.message

    def target():
        output = impl.call(native)
        impl.synchronize()  # a no-op on the CPU; on a GPU the kernel must finish inside the timing
        return output

    benchmark.group = f"{impl.op}/{case.name}"
    benchmark.extra_info.update(op=impl.op, case=case.name, backend=impl.backend, device=impl.device)
    benchmark(target)
