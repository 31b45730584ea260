"""Every public function, class and method of the three packages has a docstring, and every
package says what it exports (``__all__``), each name of which exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hwmodels", "simulator", "experiments")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if not any(part.startswith("_") and part != "__init__.py" for part in p.relative_to(ROOT).parts))


def _undocumented(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    missing = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name.startswith("_"):
                    continue
                if ast.get_docstring(node) is None and not _is_overload_or_typer(node):
                    missing.append(f"{prefix}{node.name}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return missing


def _is_overload_or_typer(node: ast.AST) -> bool:
    names = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in getattr(node, "decorator_list", [])}
    return "overload" in names or "setter" in names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_public_functions_have_docstrings(path: Path) -> None:
    assert _undocumented(path) == []


@pytest.mark.parametrize("path", sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_packages_declare_their_exports(path: Path) -> None:
    name = ".".join(path.relative_to(ROOT).parent.parts)
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(ROOT).parts[:-1])   # the package a module (or __init__) is in
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            out.add(".".join(base + ([node.module] if node.module else [])))
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    """hwmodels imports no other layer, simulator never imports experiments, and the experiments
    library never imports its CLI."""
    layer = path.relative_to(ROOT).parts[0]
    above = {"hwmodels": ("simulator", "experiments"), "simulator": ("experiments",), "experiments": ()}[layer]
    if layer == "experiments" and "cli" not in path.relative_to(ROOT).parts:
        above = ("experiments.cli",)
    bad = sorted(m for m in _imports(path) if any(m == a or m.startswith(a + ".") for a in above))
    assert bad == []
