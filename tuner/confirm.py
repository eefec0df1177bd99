"""Confirmation: retrain a study's front-runners and its defaults with fresh seeds on all folds, and rank
them again.

The best of N trials on the same validation data is the luckiest as much as the best. Retraining the
top_k configurations with ``seeds`` new seeds each removes the luck of one initialisation and one
sample order from the ranking (the validation data stay the same: the verdict, tuner/verdict.py,
deflates for that). The defaults trial is always retrained too, with the same seeds, so the winner is
compared with what the user would have had without tuning on equal terms. Each run trains exactly the
epochs its final refit will train (the study's ``refit_epochs`` rule: the trial's [train] budget, or
its best epoch) and reports its last epoch: picking the best
epoch on the same validation windows it is scored on would flatter it, and would score a model other
than the one that ships. The runs are trials of a second study, ``<name>.confirm``, in the same storage:
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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from common.errors import InputError

from .defaults_arm import defaults_number
from .objective import CONFIRM_EPOCHS_ATTR, CONFIRM_SEED_ATTR
from .optuna_adapter import storage_of, study_id_of
from .retry import with_retries
from .space import default_params
from .study import load_existing_study
from .study_config import PrunerConfig, SamplerConfig, StudyConfig
from .trials import ranked

__all__ = ["confirm_study_config", "enqueue_confirmation", "summarize_confirmation", "confirmed_ranking",
           "ConfirmedRow", "CONFIRMATION_ATTR", "CONFIRM_OF_ATTR", "SEED_BASE"]

log = logging.getLogger("stocktune.confirm")

CONFIRMATION_ATTR = "confirmation"  # main study user attr: the confirmed ranking
CONFIRM_OF_ATTR = "confirm_of"  # confirmation run user attr: the number of the trial it retrains
QUEUED_ATTR = "stocktune:confirm_queued"  # confirm study system attr: every run is enqueued
SEED_BASE = 10_000  # confirmation seeds are SEED_BASE, SEED_BASE + 1, ...: never a trial's own seed


@dataclass(frozen=True)
class ConfirmedRow:
    """One configuration of the confirmed ranking. Stored on the main study as ``to_json()`` (the keys
    of the untyped rows before it, plus ``defaults`` and ``epochs``; rows stored without them read as
    not the defaults, epochs unknown)."""

    trial: int  # the main study's trial it retrains
    params: dict[str, Any]
    original: float | None  # the trial's own value in the search (None: the defaults trial did not finish)
    values: tuple[float, ...]  # one per seed: the mean over the folds of the study metric
    mean: float
    se: float | None  # std / sqrt(n) over the seeds; None with one seed
    rank: int  # 1 = the winner (which may be the defaults)
    defaults: bool = False  # this is the defaults trial (tuner/defaults_arm.py)
    epochs: int | None = None  # the epochs each run trained, fixed before it saw its validation

    @property
    def n(self) -> int:
        return len(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "params": dict(self.params), "original": self.original,
                "values": list(self.values), "n": self.n, "mean": self.mean, "se": self.se, "rank": self.rank,
                "defaults": self.defaults, "epochs": self.epochs}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ConfirmedRow:
        return cls(trial=int(d["trial"]), params=dict(d["params"]), original=d.get("original"),
                   values=tuple(float(v) for v in d["values"]), mean=float(d["mean"]), se=d.get("se"),
                   rank=int(d["rank"]), defaults=bool(d.get("defaults", False)), epochs=d.get("epochs"))


def confirm_study_config(cfg: StudyConfig, n_configs: int, seeds: int) -> StudyConfig:
    """The study of the confirmation runs: same data, folds, [train] and storage; no pruning (every
    run trains to the end), a budget of n_configs x seeds runs."""
    return dataclasses.replace(cfg, name=f"{cfg.name}.confirm", n_trials=n_configs * seeds, timeout=None,
                               pruner=PrunerConfig(name="none"), sampler=SamplerConfig(name="random", seed=0),
                               confirm=None)


def _check(top_k: int, seeds: int) -> None:
    if top_k < 1:
        raise InputError(f"--top-k must be >= 1, but got --top-k {top_k}.")
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, but got --seeds {seeds}.")


def enqueue_confirmation(cfg: StudyConfig, top_k: int, seeds: int, wait: float = 120.0) -> StudyConfig:
    """Make sure every confirmation run is enqueued exactly once; returns the confirm study's config.

    The runs: the top_k COMPLETE trials and the defaults trial (when it is not among them), each with
    the same ``seeds`` fresh seeds, each training exactly the epochs the final refit of its trial trains
    (``refit_epochs``: its [train] budget, or its best epoch; fixed before the run sees its validation). The caller that creates the confirm
    study enqueues; a caller that finds it created waits (up to ``wait`` s) for the queue to be
    complete. InputError when the study has no COMPLETE trial.
    """
    _check(top_k, seeds)
    main = load_existing_study(cfg)
    trials = with_retries(lambda: main.get_trials(deepcopy=False), "reading trials")
    top = ranked(trials, cfg.direction)[:top_k]
    if not top:
        raise InputError(f"study {cfg.name!r} has no COMPLETE trial to confirm ({_states(trials)}; "
                         f"{cfg.storage_masked}); run `stocktune tune {cfg.path}` first, or widen the study if "
                         "its pruner cut every trial.")
    configs = [(t.number, t.params, _epochs(cfg, t)) for t in top]
    d = defaults_number(trials)
    if d is not None and d not in {t.number for t in top}:
        dt = {t.number: t for t in trials}[d]
        # the params trial 0 ran (a study file edited since then does not change what is compared)
        configs.append((d, dict(dt.params) or default_params(cfg.search, cfg.train, f"{cfg.path}, [search]"),
                        _epochs(cfg, dt)))
    ccfg = confirm_study_config(cfg, len(configs), seeds)
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
    for number, params, epochs in configs:
        for j in range(seeds):
            study.enqueue_trial(params, user_attrs={CONFIRM_OF_ATTR: number, CONFIRM_SEED_ATTR: SEED_BASE + j,
                                                    CONFIRM_EPOCHS_ATTR: epochs})
    storage.set_study_system_attr(study_id_of(study), QUEUED_ATTR, len(configs) * seeds)
    log.info("enqueued %d confirmation runs of trials %s (defaults: trial %s)", len(configs) * seeds,
             [c[0] for c in configs], d)
    return ccfg


def _epochs(cfg: StudyConfig, trial: FrozenTrial | None) -> int:
    """The epochs a confirmation run of ``trial`` trains: what `export` writes and the final refit trains
    (``StudyConfig.refit_epochs_for``)."""
    if trial is None:
        return cfg.train_config({}).epochs
    return cfg.refit_epochs_for(trial.params, trial.user_attrs.get("best_epoch"))


def _states(trials: list[FrozenTrial]) -> str:
    counts = Counter(t.state.name for t in trials)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no trials"


def summarize_confirmation(cfg: StudyConfig) -> list[ConfirmedRow] | None:
    """The confirmed ranking (best first), also stored on the main study; None before any run finished.

    Each row: the trial, its params, its own value in the search, the confirmation runs' values (one
    per seed, each the mean over the folds), their mean and standard error (std / sqrt(n))."""
    main = load_existing_study(cfg)
    storage = storage_of(main)
    names = {s.study_name for s in storage.get_all_studies()}
    if f"{cfg.name}.confirm" not in names:
        return None
    runs = optuna.load_study(study_name=f"{cfg.name}.confirm", storage=storage).get_trials(deepcopy=False)
    by_trial: dict[int, list[float]] = {}
    epochs: dict[int, int | None] = {}
    for r in runs:
        if r.state == TrialState.COMPLETE and r.value is not None and CONFIRM_OF_ATTR in r.user_attrs:
            number = int(r.user_attrs[CONFIRM_OF_ATTR])
            by_trial.setdefault(number, []).append(float(r.value))
            epochs[number] = r.user_attrs.get(CONFIRM_EPOCHS_ATTR)
    if not by_trial:
        return None
    trials = main.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    d = defaults_number(trials)
    params = {d: default_params(cfg.search, cfg.train, f"{cfg.path}, [search]")} if d is not None else {}
    sign = 1.0 if cfg.direction == "minimize" else -1.0
    unranked = []
    for number, values in by_trial.items():
        t = by_number[number]
        se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
        unranked.append((float(np.mean(values)), number, values, se, t))
    unranked.sort(key=lambda u: (sign * u[0], u[1]))
    rows = [ConfirmedRow(trial=number, params=dict(t.params or params.get(number, {})),
                         original=None if t.value is None else float(t.value), values=tuple(values),
                         mean=mean, se=se, rank=i, defaults=number == d, epochs=epochs.get(number))
            for i, (mean, number, values, se, t) in enumerate(unranked, 1)]
    with_retries(lambda: main.set_user_attr(CONFIRMATION_ATTR, [r.to_json() for r in rows]),
                 "storing the confirmed ranking")
    return rows


def confirmed_ranking(study: optuna.Study) -> list[ConfirmedRow] | None:
    """The confirmed ranking stored on the main study (None when it was never confirmed)."""
    rows = study.user_attrs.get(CONFIRMATION_ATTR)
    return [ConfirmedRow.from_json(r) for r in rows] if rows else None
