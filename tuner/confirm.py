"""Confirmation: retrain a study's front-runners with fresh seeds on all folds, and rank them again.

The best of N trials on the same validation data is the luckiest as much as the best. Retraining the
top_k configurations with ``seeds`` new seeds each removes the luck of one initialisation and one
sample order from the ranking (the validation data stay the same: the verdict, tuner/verdict.py,
deflates for that). The runs are trials of a second study, ``<name>.confirm``, in the same storage:
its first caller enqueues every (configuration, seed) run once, and any number of `stocktune confirm`
processes, on any machines, then pull runs from it exactly like workers pull trials - no run twice, a
killed one re-queued and resumed from its checkpoints. Results are a study user attribute of the main
study (``CONFIRMATION_ATTR``), which `status`, the dashboard and `export` read.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from common.errors import InputError

from .objective import CONFIRM_SEED_ATTR
from .optuna_adapter import storage_of, study_id_of
from .retry import with_retries
from .study import load_existing_study
from .study_config import PrunerConfig, SamplerConfig, StudyConfig
from .trials import ranked

__all__ = ["confirm_study_config", "enqueue_confirmation", "summarize_confirmation", "confirmed_ranking",
           "CONFIRMATION_ATTR", "CONFIRM_OF_ATTR", "SEED_BASE"]

log = logging.getLogger("stocktune.confirm")

CONFIRMATION_ATTR = "confirmation"  # main study user attr: the confirmed ranking
CONFIRM_OF_ATTR = "confirm_of"  # confirmation run user attr: the number of the trial it retrains
QUEUED_ATTR = "stocktune:confirm_queued"  # confirm study system attr: every run is enqueued
SEED_BASE = 10_000  # confirmation seeds are SEED_BASE, SEED_BASE + 1, ...: never a trial's own seed


def confirm_study_config(cfg: StudyConfig, top_k: int, seeds: int) -> StudyConfig:
    """The study of the confirmation runs: same data, folds, [train] and storage; no pruning (every
    run trains to the end), a budget of top_k x seeds runs."""
    return dataclasses.replace(cfg, name=f"{cfg.name}.confirm", n_trials=top_k * seeds, timeout=None,
                               pruner=PrunerConfig(name="none"), sampler=SamplerConfig(name="random", seed=0),
                               confirm=None)


def _check(top_k: int, seeds: int) -> None:
    if top_k < 1:
        raise InputError(f"--top-k must be >= 1, but got --top-k {top_k}.")
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, but got --seeds {seeds}.")


def enqueue_confirmation(cfg: StudyConfig, top_k: int, seeds: int, wait: float = 120.0) -> StudyConfig:
    """Make sure every confirmation run is enqueued exactly once; returns the confirm study's config.

    The caller that creates the confirm study enqueues; a caller that finds it created waits (up to
    ``wait`` s) for the queue to be complete. InputError when the study has no COMPLETE trial.
    """
    _check(top_k, seeds)
    main = load_existing_study(cfg)
    top = ranked(with_retries(lambda: main.get_trials(deepcopy=False), "reading trials"), cfg.direction)[:top_k]
    if not top:
        raise InputError(f"study {cfg.name!r} has no COMPLETE trial to confirm ({cfg.storage_masked}); run "
                         f"`stocktune tune {cfg.path}` first.")
    ccfg = confirm_study_config(cfg, len(top), seeds)
    storage = storage_of(main)
    try:
        study = with_retries(lambda: optuna.create_study(storage=storage, study_name=ccfg.name,
                                                         direction=cfg.direction), "creating the confirm study")
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=ccfg.name, storage=storage)
        deadline = time.monotonic() + wait
        while not storage.get_study_system_attrs(study_id_of(study)).get(QUEUED_ATTR):
            if time.monotonic() > deadline:
                raise InputError(f"the confirmation queue of {cfg.name!r} is incomplete (its creator stopped?); "
                                 f"delete the study {ccfg.name!r} and run `stocktune confirm` again.") from None
            time.sleep(1.0)
        queued = storage.get_study_system_attrs(study_id_of(study))[QUEUED_ATTR]
        return dataclasses.replace(ccfg, n_trials=int(queued))
    for t in top:
        for j in range(seeds):
            study.enqueue_trial(t.params, user_attrs={CONFIRM_OF_ATTR: t.number, CONFIRM_SEED_ATTR: SEED_BASE + j})
    storage.set_study_system_attr(study_id_of(study), QUEUED_ATTR, len(top) * seeds)
    log.info("enqueued %d confirmation runs of trials %s", len(top) * seeds, [t.number for t in top])
    return ccfg


def summarize_confirmation(cfg: StudyConfig) -> list[dict[str, Any]] | None:
    """The confirmed ranking (best first), also stored on the main study; None before any run finished.

    Each entry: trial, params, the original value, the confirmation runs' values (one per seed, each the
    mean over the folds), their mean and standard error (std / sqrt(n))."""
    main = load_existing_study(cfg)
    storage = storage_of(main)
    names = {s.study_name for s in storage.get_all_studies()}
    if f"{cfg.name}.confirm" not in names:
        return None
    runs = optuna.load_study(study_name=f"{cfg.name}.confirm", storage=storage).get_trials(deepcopy=False)
    by_trial: dict[int, list[float]] = {}
    for r in runs:
        if r.state == TrialState.COMPLETE and r.value is not None and CONFIRM_OF_ATTR in r.user_attrs:
            by_trial.setdefault(int(r.user_attrs[CONFIRM_OF_ATTR]), []).append(float(r.value))
    if not by_trial:
        return None
    trials = {t.number: t for t in main.get_trials(deepcopy=False)}
    rows = []
    for number, values in by_trial.items():
        mean = float(np.mean(values))
        se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
        rows.append({"trial": number, "params": trials[number].params, "original": trials[number].value,
                     "values": values, "n": len(values), "mean": mean, "se": se})
    sign = 1.0 if cfg.direction == "minimize" else -1.0
    rows.sort(key=lambda r: (sign * r["mean"], r["trial"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    with_retries(lambda: main.set_user_attr(CONFIRMATION_ATTR, rows), "storing the confirmed ranking")
    return rows


def confirmed_ranking(study: optuna.Study) -> list[dict[str, Any]] | None:
    """The confirmed ranking stored on the main study (None when it was never confirmed)."""
    rows = study.user_attrs.get(CONFIRMATION_ATTR)
    return list(rows) if rows else None
