"""Optuna workers, study files, storage, export and status (the `stocktune` CLI is the cli package).

The public names below are imported lazily (PEP 562), so that `stocktune --help` and the CLI's
error path do not pay for importing optuna and torch.
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> module under tuner/
_EXPORTS = {
    "StudyConfig": "study_config", "load_study_config": "study_config",
    "DEFAULT_SPACE": "space", "parse_search": "space", "suggest": "space", "default_params": "space",
    "open_storage": "storage", "load_or_create_study": "study", "load_existing_study": "study",
    "artifact_store": "storage", "mask_url": "urls",
    "make_sampler": "strategy", "make_pruner": "strategy",
    "Objective": "objective", "run_worker": "worker", "launch": "launcher",
    "export_best": "export", "study_status": "status", "with_retries": "retry", "StopFlag": "signals",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
