"""Kernel Arena's harness: timer, runner, results store, reports and CLI.

It sees ops and backends only through the registry in ``impls``.
"""
