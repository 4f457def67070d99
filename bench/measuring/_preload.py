"""Imported once by the worker fork server (see bench/measuring/worker.py), so that each
worker forked from it starts with numpy, torch, torchvision, numba and the
built-in implementations already imported.

Importing must not start a thread pool or a CUDA context here: forked
children inherit neither working.  Imports alone do neither -- OpenMP, TBB
and Numba's pools start at the first parallel call, CUDA at the first device
call -- and OpenBLAS, whose pool does start on import, shuts it down before a
fork and restarts it in the child (its own atfork handlers).  The thread
variables (OMP_NUM_THREADS, OMP_WAIT_POLICY, ...) that libraries read at load
time are those of the runner that started the server, set by
``machine.preset_thread_env`` before anything was imported.
"""

try:
    import impls

    impls.ops()  # every built-in op and backend module
except Exception:  # noqa: S110 - a worker imports again and reports the error as its cell's
    pass
