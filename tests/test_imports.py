"""The import graph of the portal package: no cycle, every module importable on its own, the migration's
callers (CLI, dashboard) reaching it only through its service."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: what portal.admin and the migration's CLI may import from the migration package
MIGRATION_FACADE = {
    "portal.migration.service",
    "portal.migration.options",
    "portal.migration.errors",
    "portal.migration.reports",
    "portal.migration.models",
}


def modules(root: Path, package: str = "portal") -> dict[str, Path]:
    """Every module of ``package`` under ``root`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that ``name`` imports anywhere in its source (in functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from a import b` imports the module a.b when there is one, else names of module a.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, package: str = "portal") -> dict[str, set[str]]:
    known = modules(root, package)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import one another in a circle (strongly connected, more than one)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in graph[node]:
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in order:
            visit(node)
    return found


def test_no_import_cycle_among_portal_modules():
    assert cycles(import_graph(ROOT)) == []


def test_a_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def late():\n    from ..c import thing\n")
    (package / "c.py").write_text("import pkg.a\nthing = 1\n")
    (package / "d.py").write_text("from pkg import a\n")
    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_every_portal_module_imports_first():
    """Each module imported before any other portal module (third-party libraries stay loaded between
    them, for speed), so no import order hides a half-initialised module."""
    # prometheus_client's default registry outlives the modules: empty it too, as a fresh process has it.
    script = (
        "import importlib, sys, traceback, prometheus_client\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'portal' or m.startswith('portal.')]:\n"
        "        del sys.modules[loaded]\n"
        "    for collector in list(prometheus_client.REGISTRY._collector_to_names):\n"
        "        prometheus_client.REGISTRY.unregister(collector)\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        print(name, traceback.format_exc().splitlines()[-1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, *sorted(modules(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "caller", ["portal.admin.dashboard", "portal.admin.users", "portal.admin", "portal.migration.cli"]
)
def test_the_cli_and_the_dashboard_use_the_migration_only_through_its_service(caller):
    graph = import_graph(ROOT)
    used = {name for name in graph[caller] if name.startswith("portal.migration")}
    assert used <= MIGRATION_FACADE, used - MIGRATION_FACADE


def imports_under_tests(kind) -> list[str]:
    """Where a module under tests/ imports a module whose last name part passes ``kind``."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(kind(name.split(".")[-1]) for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return offenders


def test_no_test_imports_a_conftest_module():
    """Helpers are imported from tests/support and shared fixtures come through pytest_plugins: a conftest
    module imported by a test would register its fixtures and hooks a second time under another name."""
    assert imports_under_tests(lambda name: name == "conftest") == []


def test_no_test_imports_another_test_module():
    """Helpers shared by tests live in tests/support, fixtures in a conftest.py: a test module imported by
    another has its tests collected twice in spirit (its fixtures redefined, its module set-up run again)."""
    assert imports_under_tests(lambda name: name.startswith("test_")) == []
