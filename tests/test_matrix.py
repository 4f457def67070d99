"""The correctness matrix: every registered implementation x its cases x
dtypes against the op's float64 reference, then every edge case and every bad
input of the op.  Generated from the registry, so a new op or implementation
(or a --plugin file) joins without editing this file."""

from __future__ import annotations

import functools
import re

import pytest

import impls
from conftest import selected_implementations


def _simulated_cases(spec):
    """Under the CUDA simulator (--simulator) every GPU thread is a Python
    thread, so the benchmark cases are each family's smallest small case, in
    the op's first dtype only: nms keeps its 100-box cases (two 64-box tiles,
    so the mask and the reduction cross tiles) and drops the 1000-box ones
    (~10 s a call simulated); box_iou's 100 x 100 takes ~10 s a dtype.  The
    other dtypes still run every edge case, and tests/test_numba_cuda_ptx.py
    compiles every kernel in every dtype."""
    smallest = {}
    for case in spec.cases:
        if case.small and (case.family not in smallest or case.size < smallest[case.family].size):
            smallest[case.family] = case
    return [case for case in spec.cases if case in smallest.values()]


def _params(config, kind):
    quick = config.getoption("--quick")
    simulator = config.getoption("--simulator")
    params = []
    for impl in selected_implementations(config):
        spec = impl.spec
        dtypes = [d for d in spec.dtypes if impl.supports(d)]
        marks = [pytest.mark.gpu] if impl.device == "cuda" else []
        if kind == "case":
            for case in _simulated_cases(spec) if simulator else spec.cases:
                if (impl.small_only or quick) and not case.small:
                    continue
                for dtype in dtypes[:1] if simulator else dtypes:
                    params.append(
                        pytest.param(impl, case.name, dtype, id=f"{impl.key}-{case.name}-{dtype}", marks=marks)
                    )
        elif kind == "edge":
            for dtype in dtypes:
                for edge_id, _ in spec.edge_cases(dtype):
                    params.append(pytest.param(impl, edge_id, dtype, id=f"{impl.key}-{edge_id}-{dtype}", marks=marks))
        else:
            for bad_id, *_ in spec.bad_inputs():
                params.append(pytest.param(impl, bad_id, id=f"{impl.key}-{bad_id}", marks=marks))
    return params


def pytest_generate_tests(metafunc):
    for kind, names in (("case", "impl, case_name, dtype"), ("edge", "impl, edge_id, dtype"), ("bad", "impl, bad_id")):
        if names.split(", ")[1] in metafunc.fixturenames:
            metafunc.parametrize(names, _params(metafunc.config, kind))


@functools.lru_cache(maxsize=4)
def _case_data(op, case_name, dtype, seed=0):
    spec = impls.spec(op)
    inputs = spec.make_inputs(spec.case(case_name), dtype, seed)
    checked = spec.validate(**inputs)
    return inputs, checked, spec.reference(**checked)


def _require(impl):
    if not impl.available:
        pytest.skip(impl.reason)


def test_matches_reference_on_benchmark_case(impl, case_name, dtype):
    _require(impl)
    inputs, checked, expected = _case_data(impl.op, case_name, dtype)
    result = impl.run(**inputs)
    verdict = impl.spec.compare(result, expected, checked)
    assert verdict.ok, verdict.message


def test_matches_reference_on_edge_case(impl, edge_id, dtype):
    _require(impl)
    spec = impl.spec
    inputs = dict(spec.edge_cases(dtype))[edge_id]
    checked = spec.validate(**inputs)
    expected = spec.reference(**checked)
    verdict = spec.compare(impl.run(**inputs), expected, checked)
    assert verdict.ok, verdict.message


def test_rejects_bad_input_with_clear_error(impl, bad_id):
    _require(impl)
    _, inputs, error, pattern = next(b for b in impl.spec.bad_inputs() if b[0] == bad_id)
    with pytest.raises(error, match=pattern):
        impl.run(**inputs)


def test_bad_input_messages_name_the_argument():
    """Every bad-input pattern names an argument of its op, so the matrix above
    checks messages a user can act on."""
    for op in impls.ops():
        spec = impls.spec(op)
        for bad_id, _, error, pattern in spec.bad_inputs():
            assert error in (ValueError, TypeError), bad_id
            assert any(re.search(rf"\b{re.escape(name)}\b", pattern) for name in spec.inputs), (op, bad_id, pattern)
