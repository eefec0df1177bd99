"""Opening a study: create-or-load for workers (safe to race), load-only for readers.

Readers (`status`, `export`, the dashboard's callers) never create anything, so a wrong name or URL
fails clearly instead of leaving an empty study or database behind.
"""
from __future__ import annotations

import time
from typing import Any

import optuna

from common.errors import InputError

from .defaults_arm import DEFAULTS_ATTR, defaults_number
from .optuna_adapter import OwnTrialsCache, storage_of, study_id_of
from .retry import with_retries
from .space import default_params
from .storage import open_storage
from .strategy import make_pruner, make_sampler
from .study_config import StudyConfig
from .urls import sqlite_path

__all__ = ["load_or_create_study", "load_existing_study", "enqueue_defaults", "DEFAULTS_QUEUED"]

DEFAULTS_QUEUED = "stocktune:defaults_queued"  # study system attr: the defaults trial's number, once enqueued


def load_or_create_study(cfg: StudyConfig, with_heartbeat: bool = True, sampler: Any = None,
                         pruner: Any = None, defaults_arm: bool = True, wait: float = 120.0) -> optuna.Study:
    """Load the study named in ``cfg`` (creating it on first use); safe to race from many workers.

    ``defaults_arm``: the process that creates the study enqueues the defaults trial (trial 0, see
    tuner/defaults_arm.py) before anything else; one that finds the study created but still empty waits
    (up to ``wait`` s) for that, so no worker samples a trial 0 of its own. False for the confirmation
    study, whose queue is its own."""
    # the cache serves this process's running trials from memory (a worker's storage time, P5)
    storage = OwnTrialsCache(open_storage(cfg.storage, cfg.heartbeat.interval if with_heartbeat else None,
                                          cfg.heartbeat.grace_period if with_heartbeat else None))
    sampler = sampler if sampler is not None else make_sampler(cfg)
    pruner = pruner if pruner is not None else make_pruner(cfg)

    def create() -> tuple[optuna.Study, bool]:
        # the database's unique study name makes exactly one racing process the creator
        try:
            return optuna.create_study(storage=storage, study_name=cfg.name, direction=cfg.direction,
                                       sampler=sampler, pruner=pruner), True
        except optuna.exceptions.DuplicatedStudyError:
            return optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=pruner), False

    study, created = with_retries(create, "creating/loading the study")
    dirs = study.directions
    if len(dirs) != 1 or dirs[0].name.lower() != cfg.direction:
        raise InputError(f"the study {cfg.name!r} in {cfg.storage_masked} was created with direction "
                         f"{dirs[0].name.lower()}, but the study file says direction={cfg.direction!r} ({cfg.path}); "
                         "use a new name or fix the direction.")
    if defaults_arm:
        if created:
            enqueue_defaults(cfg, study)
        else:
            _wait_for_first_trial(cfg, study, wait)
    return study


def enqueue_defaults(cfg: StudyConfig, study: optuna.Study) -> int | None:
    """Enqueue the defaults trial (marked DEFAULTS_ATTR); its creator calls this once. Returns its number."""
    params = default_params(cfg.search, cfg.train, f"{cfg.path}, [search]")
    with_retries(lambda: study.enqueue_trial(params, user_attrs={DEFAULTS_ATTR: True}), "enqueueing the defaults trial")
    number = defaults_number(with_retries(lambda: study.get_trials(deepcopy=False), "reading trials"))
    with_retries(lambda: storage_of(study).set_study_system_attr(study_id_of(study), DEFAULTS_QUEUED, number),
                 "marking the defaults trial enqueued")
    return number


def _wait_for_first_trial(cfg: StudyConfig, study: optuna.Study, wait: float) -> None:
    """Until the creator has enqueued the defaults (or the study has any trial: one made before
    defaults trials existed has none, and must not block its workers)."""
    storage, sid = storage_of(study), study_id_of(study)
    deadline = time.monotonic() + wait
    while not (with_retries(lambda: storage.get_study_system_attrs(sid), "reading study attrs").get(DEFAULTS_QUEUED)
               is not None or with_retries(lambda: storage.get_n_trials(sid), "counting trials")):
        if time.monotonic() > deadline:
            raise InputError(f"the study {cfg.name!r} in {cfg.storage_masked} was created, but its defaults "
                             f"trial was never enqueued (its creator stopped within {wait:.0f} s?); delete the "
                             f"study (`optuna delete-study --study-name {cfg.name} --storage URL`) and start again.")
        time.sleep(0.5)


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
