"""Imports point down one ladder of layers, and no two packages import each other.

Every ``import`` and ``from ... import`` in ``python/fusegen`` is parsed -- inside functions too --
and checked against :data:`LAYERS` (lowest first). A module may import its own layer and the
layers below it. The ladder and the reasons for its order are in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "python" / "fusegen"

# Lowest first. A name is a top-level module or package of fusegen ("" is fusegen/__init__.py,
# the facade that re-exports the public names: nothing inside the package imports it).
LAYERS: list[tuple[str, ...]] = [
    ("_C", "_build_config", "_torch_check", "_version", "atomic", "timing", "tables", "info",
     "checkpoint"),  # base: no model code
    ("ops",),
    ("nn",),
    ("data",),
    ("metrics",),
    ("models",),
    ("load",),
    ("transfer",),
    ("train",),
    ("active",),
    ("bench", "demo"),
    ("commands",),
    ("cli", "__main__"),
    ("",),
]
LEVEL = {name: rank for rank, names in enumerate(LAYERS) for name in names}
COMPILED = {"fusegen._C", "fusegen._build_config"}  # modules the build writes (no source file)


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """``fusegen.x.y`` for ``root/x/y.py`` (``fusegen.x`` for ``x/__init__.py``); and whether it
    is a package's ``__init__``."""
    parts = ["fusegen", *path.relative_to(root).with_suffix("").parts]
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, fusegen module) for every import of fusegen code in ``path``, relative imports
    resolved; ``from pkg import name`` counts as importing ``pkg.name`` where that is a module."""
    name, is_package = module_name(path, root)
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "fusegen"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fusegen":
                continue
            for alias in node.names:
                sub = target + "." + alias.name
                is_module = sub in COMPILED or any(p.exists() for p in _candidates(sub, root))
                found.append((node.lineno, sub if is_module else target))
    return found


def _candidates(module: str, root: Path) -> list[Path]:
    rel = Path(*module.split(".")[1:]) if "." in module else Path()
    return [root / rel.with_suffix(".py"), root / rel / "__init__.py"] if rel.parts else [root / "__init__.py"]


def top_level(module: str) -> str:
    """The layer key of a fusegen module: its top-level name ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def check_layers(root: Path, levels: dict[str, int] = LEVEL) -> list[str]:
    """Every upward import, every module missing from the ladder, and every cycle between
    top-level packages under ``root``, as readable lines (empty: all good)."""
    problems, edges = [], {}
    for path in sorted(root.rglob("*.py")):
        source = top_level(module_name(path, root)[0])
        if source not in levels:
            problems.append(f"{path.relative_to(root)}: '{source}' has no place in the layer ladder")
            continue
        for line, target_module in imported_modules(path, root):
            target = top_level(target_module)
            if target == source:
                continue
            edges.setdefault(source, set()).add(target)
            if target not in levels:
                problems.append(f"{path.relative_to(root)}:{line}: imports '{target_module}', which has no "
                                f"place in the layer ladder")
            elif levels[target] > levels[source]:
                problems.append(f"{path.relative_to(root)}:{line}: '{source}' imports '{target_module}' "
                                f"from a layer above it")
    problems += [f"import cycle between packages: {' -> '.join(c)}" for c in _cycles(edges)]
    return problems


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each package that can reach itself (depth-first search)."""
    cycles, seen = [], set()
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start and frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    cycles.append(path + [start])
                elif nxt not in path and nxt > start:  # each cycle once, from its smallest name
                    stack.append((nxt, path + [nxt]))
    return cycles


# ----------------------------------------------------------------------------- the project


def test_fusegen_imports_point_down_the_ladder():
    problems = check_layers(PACKAGE_ROOT)
    assert not problems, "\n".join(problems)


def test_every_layer_of_the_ladder_exists():
    present = {top_level(module_name(p, PACKAGE_ROOT)[0]) for p in PACKAGE_ROOT.rglob("*.py")}
    present |= {"_C", "_build_config"}  # written by the build
    assert set(LEVEL) <= present, sorted(set(LEVEL) - present)


# ----------------------------------------------------------------------------- the checker itself


def make_tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "fusegen"
    for rel, text in {"__init__.py": "", **files}.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_checker_passes_downward_imports(tmp_path):
    root = make_tree(tmp_path, {"ops/__init__.py": "from ..atomic import atomic_write\n",
                                "atomic.py": "import os\n",
                                "models/__init__.py": "from ..ops import weighted_sum\nimport fusegen.nn\n",
                                "nn/__init__.py": "from fusegen.ops import x\n"})
    assert check_layers(root) == []


@pytest.mark.parametrize("text", [
    "from ..models import Ensemble\n",                      # relative, at the top
    "def f():\n    from ..models import Ensemble\n",        # inside a function
    "import fusegen.models.registry\n",                      # absolute
    "from fusegen import models\n",                          # a package by name
])
def test_checker_fails_on_a_planted_upward_import(tmp_path, text):
    root = make_tree(tmp_path, {"ops/__init__.py": text, "models/__init__.py": "",
                                "models/registry.py": ""})
    problems = check_layers(root)
    assert len(problems) == 1 and "'ops' imports 'fusegen.models" in problems[0], problems


def test_checker_fails_on_importing_the_facade(tmp_path):
    root = make_tree(tmp_path, {"ops/__init__.py": "from .. import load\n"})  # fusegen.load: a name of __init__
    problems = check_layers(root)
    assert problems and "imports 'fusegen' from a layer above it" in problems[0], problems


def test_checker_fails_on_a_cycle_within_one_layer(tmp_path):
    root = make_tree(tmp_path, {"bench/__init__.py": "from ..demo import run\n",
                                "demo/__init__.py": "def f():\n    from ..bench import cases\n"})
    problems = check_layers(root)
    assert problems == ["import cycle between packages: bench -> demo -> bench"], problems


def test_checker_fails_on_a_package_outside_the_ladder(tmp_path):
    root = make_tree(tmp_path, {"stray/__init__.py": "from ..ops import x\n", "ops/__init__.py": ""})
    problems = check_layers(root)
    assert problems and "'stray' has no place in the layer ladder" in problems[0], problems
