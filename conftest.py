"""pytest options that select the correctness matrix: --op, --backend, --device, --quick,
--simulator."""

import os
import sys

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis profiles (tests/test_properties.py): "ci", the default, is
# derandomized and keeps no example database, so every run draws the same
# examples; "long" draws ten times as many, fresh each run.  Choose one with
# HYPOTHESIS_PROFILE=long or pytest --hypothesis-profile=long.  Registered
# here because the Hypothesis plugin loads --hypothesis-profile before any
# test module is imported.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=100, print_blob=True)
settings.register_profile("long", deadline=None, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# As in benchmark runs (bench/measuring/machine.py): idle OpenMP threads sleep instead of
# spinning, so torch's, Numba's and the extension's pools do not starve each other.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # NumPy's BLAS threads sleep at once too


def pytest_addoption(parser):
    group = parser.getgroup("kernel-arena")
    group.addoption("--op", action="append", default=None, help="only this op (repeatable)")
    group.addoption("--backend", action="append", default=None, help="only this backend (repeatable)")
    group.addoption("--device", action="append", default=None, help="only this device: cpu or cuda (repeatable)")
    group.addoption("--quick", action="store_true", help="only the small benchmark cases")
    group.addoption("--plugin", action="append", default=None, help="also test the implementations in this file")
    group.addoption(
        "--simulator",
        action="store_true",
        help="this process runs numba.cuda under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1 in the "
        "environment): benchmark cases are cut to the smallest small case of each family",
    )


def pytest_configure(config):
    import numba

    if config.getoption("--simulator") and not numba.config.ENABLE_CUDASIM:
        raise pytest.UsageError("--simulator needs NUMBA_ENABLE_CUDASIM=1 in the environment before Python starts")
    if numba.config.ENABLE_CUDASIM:
        # The simulator runs every CUDA thread as a Python thread and releases a
        # barrier only once its polling loop has seen every thread arrive.  At
        # the default 5 ms GIL switch interval a barrier took ~20-40 ms; at
        # 0.1 ms, ~2-4 ms, which makes the simulated matrix several times faster.
        sys.setswitchinterval(1e-4)
        _lock_simulated_shared_arrays()

    import impls

    for path in config.getoption("--plugin") or ():
        impls.load_plugin(path)


def _lock_simulated_shared_arrays():
    """Numba's simulator hands a block's threads one shared array per call
    site by an unlocked get-or-create on a dict: two threads that both find
    none each make their own, and every thread then reads uninitialised
    values where the other half of the block wrote into the other array.  A
    CI run's simulated conv2d GEMM once gave 25 outputs near 4e31 (not
    reproduced since; the fast switch interval above widens that window).
    The same lookup under a lock: the call site is still the caller's line."""
    import threading

    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    unlocked = kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, nothing to create
            return unlocked(self, shape, dtype)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        site = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            if site not in self._allocations:
                self._allocations[site] = np.empty(shape, dtype)
            return self._allocations[site]

    kernelapi.FakeCUDAShared.array = array


def selected_implementations(config):
    """The registered implementations the command line selects, available or not."""
    import impls

    ops, backends, devices = (config.getoption(o) for o in ("--op", "--backend", "--device"))
    return [
        impl
        for impl in impls.implementations()
        if (not ops or impl.op in ops)
        and (not backends or impl.backend in backends)
        and (not devices or impl.device in devices)
    ]


@pytest.fixture
def quick(request):
    return request.config.getoption("--quick")
