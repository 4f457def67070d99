"""The harness's and the implementations' modules import each other without
a cycle: where two modules need each other a seam is missing (a shared
module both import, or an interface one side passes in).  Imports inside
functions count too: they hide a cycle from the interpreter, not from a
reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_imports(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of ``package`` it imports, anywhere in its body."""
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importing module's package
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:  # "from bench import report"
                        imported.add(submodule)
                    elif alias.name in _defined_in(modules.get(base)):  # a name the package's __init__ binds
                        imported.add(base)
                    # else a compiled submodule (impls._C): no module of ours runs
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _defined_in(path: Path | None) -> set[str]:
    """The names a module binds at its top level (imports, functions, classes, assignments)."""
    if path is None:
        return set()
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle_through_a_function_level_import():
    graph = {"bench.a": {"bench.b"}, "bench.b": {"bench.c"}, "bench.c": {"bench.a"}, "bench.d": {"bench.a"}}
    assert cycles(graph) == [["bench.a", "bench.b", "bench.c"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


@pytest.mark.parametrize("package", ["bench", "impls"])
def test_no_import_cycles(package):
    graph = module_imports(package)
    assert len(graph) > 5  # the walk found the package's modules
    assert not cycles(graph), f"import cycles in {package}/: {cycles(graph)}"


# The harness's layers, each importing only those before it: measuring knows
# nothing of where results go, the store nothing of who reads it, and so on.
LAYERS = ("bench.measuring", "bench.storing", "bench.reading", "bench.reporting")


def _layer(module: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")), None)


def test_the_harness_layers_import_only_the_layers_below_them():
    graph = module_imports("bench")
    assert {_layer(m) for m in graph} >= set(range(len(LAYERS)))  # every layer is there
    upward = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if _layer(module) is not None and _layer(target) is not None and _layer(target) > _layer(module)
    ]
    assert not upward, "a layer imports one above it: " + "; ".join(sorted(upward))


def test_report_pages_never_import_each_other():
    graph = module_imports("bench")
    pages = {m for m in graph if m.startswith("bench.reporting.pages.")}
    assert len(pages) >= 3  # the op, CPU-against-GPU and index pages
    crossing = [f"{m} imports {t}" for m in pages for t in graph[m] if t in pages]
    assert not crossing, "pages share helpers through bench/reporting/common.py, not each other: " + "; ".join(crossing)
