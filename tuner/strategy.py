"""Sampler and pruner from a study's [sampler] / [pruner] tables, built by their entries in tuner/registry.py.

What is specific to one sampler or pruner lives in its registry entry; this module adds what holds for
all of them: each worker's own sampler seed, and the study's step axis (folds x epochs) for the pruner.
"""
from __future__ import annotations

import warnings

import optuna

from .registry import PRUNERS, SAMPLERS
from .study_config import StudyConfig

__all__ = ["make_sampler", "make_pruner"]


def make_sampler(cfg: StudyConfig, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler; worker ``i`` uses seed + i, so parallel workers do not draw the same points
    (with one shared seed, every worker's random start-up trials would be identical)."""
    s = cfg.sampler
    seed = None if s.seed is None else s.seed + worker_index
    with warnings.catch_warnings():  # multivariate TPE, constant liar, GP: experimental in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[s.name].build(s, seed)


def make_pruner(cfg: StudyConfig, n_folds: int = 1) -> optuna.pruners.BasePruner:
    """The study's pruner on the fold x epoch step axis (``cfg.steps_per_fold`` steps per fold): median
    compares within the current fold only, successive halving and hyperband at equal steps (equal fold
    and epoch)."""
    p = cfg.pruner
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return PRUNERS[p.name].build(p, cfg.steps_per_fold, n_folds)
