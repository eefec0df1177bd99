"""The architecture as tests: imports run one way (common <- data_prep <- model <- tuner <- cli), no two
modules import each other (inside a package too), private optuna/optuna-dashboard names live in one adapter,
and commands stay thin."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from cli_run import ROOT, cli_env

# package -> project packages (and heavy dependencies) it must never import
FORBIDDEN = {
    "common": {"data_prep", "model", "tuner", "cli", "torch", "optuna", "optuna_dashboard", "numpy", "pandas"},
    "data_prep": {"model", "tuner", "cli", "torch", "optuna", "optuna_dashboard"},
    "model": {"tuner", "cli", "optuna", "optuna_dashboard"},
    "tuner": {"cli"},
}
ADAPTER = "tuner/optuna_adapter.py"
PACKAGES = ("common", "data_prep", "model", "tuner", "cli")
PRIVATE = re.compile(r"optuna(_dashboard)?(\.[A-Za-z0-9]+)*\._[a-z]|\._(storage|trial_id|study_id|backend)\b")


def _modules(package: str) -> list:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path) -> set[str]:
    """Top-level names of every module ``path`` imports (also inside functions: lazy imports count)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def import_graph(root) -> dict[str, set[str]]:
    """Dotted module -> the project modules it imports, anywhere in its code (imports inside functions
    count: a lazy import still ties the two modules together). ``from pkg import name`` counts both
    ``pkg`` and ``pkg.name`` when that is a module; a module's imports of its own ancestor packages are
    left out (every submodule's package is imported first anyway). The rules of the before-stop hook's
    cycle check (section 2e), so that the two agree."""
    paths = {}
    for package in PACKAGES:
        for p in sorted((root / package).rglob("*.py")):
            dotted = ".".join(p.relative_to(root).with_suffix("").parts)
            paths[dotted.removesuffix(".__init__")] = p
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for m, p in paths.items():
        package = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            graph[m] |= {n for n in names if n in paths and n != m and not m.startswith(n + ".")}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.add(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def _describe(cycle: frozenset[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} imports {sorted(graph[m] & cycle)}" for m in sorted(cycle))


def test_no_module_imports_itself_through_others():
    """No circle of imports between modules, inside a package or across: a circle means the shared part
    has no owner, and which module finishes loading first depends on who is imported first."""
    graph = import_graph(ROOT)
    cycles = import_cycles(graph)
    assert not cycles, "modules that import each other (give the shared part one owner):\n" + "\n".join(
        _describe(c, graph) for c in sorted(cycles, key=sorted))


def test_the_cycle_check_sees_lazy_and_relative_imports(tmp_path):
    """The check itself: a circle closed by an import inside a function, through relative imports, is found;
    importing one's own package (``from . import x``, the ``__init__``) is not a circle."""
    pkg = tmp_path / "model"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import f\nfrom .c import g\n")
    (pkg / "a.py").write_text("from .b import helper\n\ndef f():\n    return helper()\n")
    (pkg / "b.py").write_text("def helper():\n    from model.a import f  # lazy, still a circle\n    return f\n")
    (pkg / "c.py").write_text("from . import a\n\ndef g():\n    return a.f\n")
    graph = import_graph(tmp_path)
    assert graph["model.c"] == {"model.a"}
    assert import_cycles(graph) == {frozenset({"model.a", "model.b"})}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    wrong = {f"{p.relative_to(ROOT)} imports {sorted(_imports(p) & FORBIDDEN[package])}"
             for p in _modules(package) if _imports(p) & FORBIDDEN[package]}
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("package, absent", [("common", "numpy"), ("data_prep", "torch"), ("data_prep", "optuna"),
                                             ("model", "optuna"), ("cli.main", "torch")])
def test_importing_a_layer_loads_nothing_above_it(package, absent):
    code = f"import sys, {package}; sys.exit({absent!r} in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"`import {package}` loads {absent}\n{r.stderr}"


def test_private_optuna_names_only_in_the_adapter():
    users = [str(p.relative_to(ROOT)) for pkg in ("common", "data_prep", "model", "tuner", "cli", "bench")
             for p in _modules(pkg) if PRIVATE.search(p.read_text()) and str(p.relative_to(ROOT)) != ADAPTER]
    assert users == [], f"private optuna/optuna-dashboard names outside {ADAPTER}: {users}"


def test_the_adapter_finds_everything_it_needs_in_the_installed_versions():
    from importlib.metadata import version

    import optuna

    from tuner.optuna_adapter import TESTED, missing_internals

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    missing = missing_internals()
    installed = {name: version(name) for name in TESTED}
    assert not missing, (f"{ADAPTER} needs {missing}, which the installed {installed} lack (tested with {TESTED}); "
                         "adapt the adapter or pin the versions in pyproject.toml")


def test_commands_stay_thin():
    """A command parses arguments, calls one function of the layer below and prints."""
    long = {p.name: n for p in _modules("cli") if (n := len(p.read_text().splitlines())) > 90}
    assert not long, f"command modules over 90 lines (move the logic into the layer that owns it): {long}"
