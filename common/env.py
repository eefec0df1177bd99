"""The environment variables stocktune reads: one table, one reader, and a warning for misspellings.

A misspelt variable (``STOCKTUNE_CAHCE``) would otherwise be ignored silently and the cache would
land in the default place; ``warn_unknown`` names any ``STOCKTUNE_*`` variable that nothing reads.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["VARIABLES", "get", "cache_root", "unknown_variables", "referenced_in", "warn_unknown"]

# name -> what it does (docs/ lists the same table)
VARIABLES: dict[str, str] = {
    "STOCKTUNE_CACHE": "root of the prepared-dataset cache (default: runs/cache under the current directory)",
    "STOCKTUNE_PREP_THREADS": "threads for the feature computation of `prep` (default: all cores)",
    "STOCKTUNE_WORKER_INDEX": "set by `launch` for each worker: offsets the sampler seed (seed + index)",
    "STOCKTUNE_WORKER_STORAGE": "set by `launch`: the --storage override for its workers, kept out of `ps`",
    "STOCKTUNE_STORAGE": "the storage URL, by convention: the bundled study files, compose and Kubernetes "
                         "write storage = \"${STOCKTUNE_STORAGE}\"",
    "STOCKTUNE_ARTIFACTS": "the artifacts directory, by convention (studies/krx_scale.toml reads it)",
}


def get(name: str, default: str | None = None) -> str | None:
    """The value of a documented variable (a name missing from VARIABLES is a programming error)."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not in common.env.VARIABLES; document it there first")
    return os.environ.get(name, default)


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
    for name in unknown:
        close = difflib.get_close_matches(name, VARIABLES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"stocktune: warning: the environment variable {name} is set, but stocktune does not read it{hint}; "
              f"known: {', '.join(VARIABLES)}.", file=sys.stderr)
    return unknown
