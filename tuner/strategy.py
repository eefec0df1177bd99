"""Sampler and pruner from a study's [sampler] / [pruner] tables.

TPE is multivariate (learning rate and batch size interact) and uses the constant liar, so that
parallel workers asking at the same moment do not all get the same point. Pruning steps are
epochs on one axis over the folds, reported by the objective after every epoch.
"""
from __future__ import annotations

import warnings

import optuna

from .pruning import FoldPercentilePruner, StartupTrials
from .study_config import StudyConfig

__all__ = ["make_sampler", "make_pruner", "first_rung"]


def make_sampler(cfg: StudyConfig, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler; worker ``i`` uses seed + i, so parallel workers do not draw the same points
    (with one shared seed, every worker's random start-up trials would be identical)."""
    s = cfg.sampler
    seed = None if s.seed is None else s.seed + worker_index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.n_startup_trials,
                                              multivariate=s.multivariate, constant_liar=s.constant_liar)
        if s.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if s.name == "cmaes":
            # categorical dims (cell, batch_size) fall back to the independent sampler
            return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=s.n_startup_trials,
                                                warn_independent_sampling=False)
        if s.name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=s.n_startup_trials)
    raise AssertionError(s.name)  # validated in StudyConfig


def first_rung(cfg: StudyConfig, n_folds: int) -> int:
    """Successive halving's default min_resource: a tenth of a trial's steps, at least 1."""
    return max(1, cfg.steps_per_fold * n_folds // 10)


def make_pruner(cfg: StudyConfig, n_folds: int = 1) -> optuna.pruners.BasePruner:
    """The study's pruner on the fold x epoch step axis (``cfg.steps_per_fold`` steps per fold).

    median compares within the current fold only (tuner/pruning.py); successive halving and hyperband
    compare values at equal steps (equal fold and epoch), with hyperband's budget all folds' epochs.
    Successive halving's first rung defaults to a tenth of a trial's steps (1 of 10 epochs on one
    fold, as measured in bench/study.py; 3 of 30 on three folds): Optuna's "auto" would put it at
    step 1 whatever the number of folds, and cut 9 of 10 trials after one epoch."""
    p = cfg.pruner
    if p.name == "median":
        return FoldPercentilePruner(cfg.steps_per_fold, 50.0, n_startup_trials=p.n_startup_trials,
                                    n_warmup_steps=p.n_warmup_steps, interval_steps=p.interval_steps)
    if p.name == "successive_halving":
        pruner: optuna.pruners.BasePruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.min_resource or first_rung(cfg, n_folds), reduction_factor=p.reduction_factor)
        return StartupTrials(pruner, p.n_startup_trials) if p.n_startup_trials else pruner
    if p.name == "hyperband":  # not wrapped: TPE recognises a HyperbandPruner to sample per bracket
        return optuna.pruners.HyperbandPruner(min_resource=p.min_resource or 1,
                                              max_resource=p.max_resource or cfg.steps_per_fold * n_folds,
                                              reduction_factor=p.reduction_factor)
    return optuna.pruners.NopPruner()
