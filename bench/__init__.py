"""Kernel Arena's harness, laid out by what it does: ``measuring`` (cells,
timers, executors, machine and peaks), ``storing`` (the results store and its
schema), ``reading`` (runs, comparisons, history, export) and ``reporting``
(one module per page); ``cli`` is ``python -m bench``.

It sees ops and backends only through the registry in ``impls``.
"""
