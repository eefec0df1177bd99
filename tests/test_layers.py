"""The architecture as tests: imports run one way (common <- data_prep <- model <- tuner <- cli), private
optuna/optuna-dashboard names live in one adapter, and commands stay thin."""
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
