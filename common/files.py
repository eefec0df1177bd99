"""Writing files so that a reader never sees half of one, and JSON that any parser accepts.

Every file stocktune writes for someone else to read (checkpoints, model directories, run files,
evaluation.json) goes through ``write_atomic``: the bytes go to a temp file beside the target, which
is renamed over it only when complete; a failed write removes the temp file, so nothing ``*.tmp*``
is left behind.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_text_atomic", "write_json_atomic", "json_safe"]


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` fills a temp file in the target's directory, which then replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def json_safe(obj: Any) -> Any:
    """A strict-JSON version of ``obj``: NaN/inf -> None, numpy scalars/arrays -> Python, tuples -> lists.

    Optuna's user attributes and evaluation.json must load in any JSON parser (JavaScript's rejects
    NaN), and a numpy float is not JSON-serialisable at all. Anything else unknown becomes its str().
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays, without importing numpy
    if callable(tolist):
        return json_safe(tolist())
    return str(obj)


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Strict JSON (see ``json_safe``) written atomically, with a trailing newline."""
    text = json.dumps(json_safe(obj), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"
    return write_text_atomic(path, text)
