"""The environment variables stocktune reads or sets: one table, one reader, and a warning for misspellings.

Every variable the code reads goes through ``get`` (a name missing from VARIABLES is a programming
error), the ``${VAR}`` references of a config file through ``expand``, and the environment of a
child process is built by ``child_environ``; no other module touches ``os.environ``
(tests/common/test_env.py checks the tree). docs/environment.md is generated from VARIABLES
(``markdown_table``) and checked against it by the same test.

A misspelt variable (``STOCKTUNE_CAHCE``) would otherwise be ignored silently and the cache would
land in the default place; ``warn_unknown`` names any ``STOCKTUNE_*`` variable that nothing reads.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["VARIABLES", "get", "expand", "child_environ", "cache_root", "unknown_variables", "referenced_in",
           "warn_unknown", "markdown_table"]

# name -> what it does; docs/environment.md is this table (markdown_table)
VARIABLES: dict[str, str] = {
    "STOCKTUNE_CACHE": "root of the prepared-dataset cache (default: runs/cache under the current directory)",
    "STOCKTUNE_PREP_THREADS": "threads of `prep`: hashing and reading files, parsing their columns, the feature blocks, the cross-sectional ranks (default: all cores)",
    "STOCKTUNE_WORKER_INDEX": "set by `launch` for each worker: offsets the sampler seed (seed + index)",
    "STOCKTUNE_WORKER_STORAGE": "set by `launch`: the --storage override for its workers, kept out of `ps`",
    "STOCKTUNE_STORAGE": "the storage URL, by convention: the bundled study files, compose and Kubernetes "
                         "write storage = \"${STOCKTUNE_STORAGE}\"",
    "STOCKTUNE_ARTIFACTS": "the artifacts directory, by convention (studies/krx_scale.toml reads it)",
    "OMP_NUM_THREADS": "when set, the default of --threads of `fit`, `evaluate` and `predict`; set by `launch` "
                       "for each worker to its --threads",
    "MKL_NUM_THREADS": "set by `launch` for each worker to its --threads",
    "CUDA_VISIBLE_DEVICES": "read by `launch` (empty: no GPU); set by `launch` for each worker to its GPU",
    "PYTHONUNBUFFERED": "set by `launch` for each worker, so that its log is written line by line",
}


def get(name: str, default: str | None = None) -> str | None:
    """The value of a documented variable (a name missing from VARIABLES is a programming error)."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not in common.env.VARIABLES; document it there first")
    return os.environ.get(name, default)


def expand(value: str, missing: Callable[[str], str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in a config value, from the environment; ``missing(VAR)`` is
    called for an unset variable without a default (it returns a value or raises)."""

    def repl(m: re.Match) -> str:
        var, default = m.group(1), m.group(3)
        if var in os.environ:
            return os.environ[var]
        return default if default is not None else missing(var)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", repl, value)


def child_environ(**values: str) -> dict[str, str]:
    """This process's environment plus ``values`` (documented names only), for a child process."""
    undocumented = sorted(set(values) - set(VARIABLES))
    if undocumented:
        raise KeyError(f"{undocumented} are not in common.env.VARIABLES; document them there first")
    return {**os.environ, **values}


def cache_root() -> Path:
    """Where prepared datasets live: $STOCKTUNE_CACHE, else runs/cache under the current directory."""
    return Path(get("STOCKTUNE_CACHE") or "runs/cache")


def unknown_variables(environ: dict[str, str] | None = None, referenced: Iterable[str] = ()) -> list[str]:
    """``STOCKTUNE_*`` variables that are set but neither documented nor referenced by a config file."""
    environ = os.environ if environ is None else environ
    known = set(VARIABLES) | set(referenced)
    return sorted(k for k in environ if k.startswith("STOCKTUNE_") and k not in known)


def referenced_in(paths: Iterable[str]) -> set[str]:
    """Variable names a config file refers to as ``${NAME}`` (those are the user's own, not misspellings)."""
    names: set[str] = set()
    for p in paths:
        try:
            text = Path(p).read_text(errors="replace") if p.endswith(".toml") and Path(p).is_file() else ""
        except OSError:
            continue
        names.update(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    return names


def warn_unknown(argv: Iterable[str] = ()) -> list[str]:
    """Print one warning per unknown ``STOCKTUNE_*`` variable (with the closest known name)."""
    unknown = unknown_variables(referenced=referenced_in(argv))
    ours = [k for k in VARIABLES if k.startswith("STOCKTUNE_")]
    for name in unknown:
        close = difflib.get_close_matches(name, ours, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"stocktune: warning: the environment variable {name} is set, but stocktune does not read it{hint}; "
              f"known: {', '.join(ours)}.", file=sys.stderr)
    return unknown


def markdown_table() -> str:
    """VARIABLES as the Markdown table of docs/environment.md."""
    rows = ["| `" + name + "` | " + text.replace("|", "\\|") + " |" for name, text in VARIABLES.items()]
    return "\n".join(["| variable | what it does |", "|---|---|", *rows])
