"""Opening a study: create-or-load for workers (safe to race), load-only for readers.

Readers (`status`, `export`, the dashboard's callers) never create anything, so a wrong name or URL
fails clearly instead of leaving an empty study or database behind.
"""
from __future__ import annotations

from typing import Any

import optuna

from common.errors import InputError

from .optuna_adapter import OwnTrialsCache
from .retry import with_retries
from .storage import open_storage
from .strategy import make_pruner, make_sampler
from .study_config import StudyConfig
from .urls import sqlite_path

__all__ = ["load_or_create_study", "load_existing_study"]


def load_or_create_study(cfg: StudyConfig, with_heartbeat: bool = True, sampler: Any = None,
                         pruner: Any = None) -> optuna.Study:
    """Load the study named in ``cfg`` (creating it on first use); safe to race from many workers."""
    # the cache serves this process's running trials from memory (a worker's storage time, P5)
    storage = OwnTrialsCache(open_storage(cfg.storage, cfg.heartbeat.interval if with_heartbeat else None,
                                          cfg.heartbeat.grace_period if with_heartbeat else None))
    sampler = sampler if sampler is not None else make_sampler(cfg)
    pruner = pruner if pruner is not None else make_pruner(cfg)

    def create() -> optuna.Study:
        return optuna.create_study(storage=storage, study_name=cfg.name, direction=cfg.direction,
                                   sampler=sampler, pruner=pruner, load_if_exists=True)

    study = with_retries(create, "creating/loading the study")
    dirs = study.directions
    if len(dirs) != 1 or dirs[0].name.lower() != cfg.direction:
        raise InputError(f"the study {cfg.name!r} in {cfg.storage_masked} was created with direction "
                         f"{dirs[0].name.lower()}, but the study file says direction={cfg.direction!r} ({cfg.path}); "
                         "use a new name or fix the direction.")
    return study


def load_existing_study(cfg: StudyConfig) -> optuna.Study:
    """The study named in ``cfg``; InputError (saying how to start it) when it does not exist."""
    path = sqlite_path(cfg.storage)
    if path is not None and not path.is_file():  # do not leave an empty database behind
        raise InputError(f"study {cfg.name!r} does not exist: there is no {path} ({cfg.path}); start it with "
                         f"`stocktune tune {cfg.path}` or `stocktune worker {cfg.path}`.")
    storage = open_storage(cfg.storage, heartbeat_interval=None)
    names = with_retries(lambda: [s.study_name for s in storage.get_all_studies()], "listing studies")
    if cfg.name not in names:
        raise InputError(f"study {cfg.name!r} does not exist in {cfg.storage_masked} ({cfg.path}); start it with "
                         f"`stocktune tune {cfg.path}` or `stocktune worker {cfg.path}`.")
    return optuna.load_study(study_name=cfg.name, storage=storage)
