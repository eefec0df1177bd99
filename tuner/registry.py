"""The samplers and pruners a study file can name, each declared once.

An entry (``Kind``) holds the name, the [sampler]/[pruner] settings that kind reads, the defaults that
depend on the kind, and its constructor. Everything else derives from the two registries: the study
file's validation (an unknown name, or a setting the named kind does not read, is an InputError with
exit 2 listing what exists), the construction (``tuner/strategy.py``) and the study note, which shows
exactly the settings the kind reads (``shown_settings``). A new pruner is one entry in ``PRUNERS``,
plus a field in ``PrunerConfig`` if it reads a setting no other pruner has.

TPE is multivariate (learning rate and batch size interact) and uses the constant liar, so that
parallel workers asking at the same moment do not all get the same point. Pruning steps are
epochs on one axis over the folds, reported by the objective after every epoch.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from common.errors import InputError
from common.registry import one_of
from common.settings import check

from .pruning import FoldPercentilePruner, StartupTrials

__all__ = ["Kind", "SamplerConfig", "PrunerConfig", "SAMPLERS", "PRUNERS", "first_rung", "shown_settings",
           "check_given_settings"]

B = TypeVar("B")


@dataclass(frozen=True)
class Kind(Generic[B]):
    """One sampler or pruner: ``build(config, *context)`` makes it from its config table."""

    name: str
    settings: tuple[str, ...]  # the table's keys (besides `name`) it reads: accepted in the file, shown in the note
    build: Callable[..., B]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # for settings left None, when the kind decides


@dataclass(frozen=True)
class SamplerConfig:
    """[sampler]: TPE (multivariate, constant_liar so parallel workers do not sample the same point)."""

    name: str = "tpe"
    seed: int | None = 42
    n_startup_trials: int = 10
    multivariate: bool = True
    constant_liar: bool = True

    def __post_init__(self) -> None:
        one_of(SAMPLERS, self.name, "name")
        check(self.n_startup_trials >= 0,
              f"n_startup_trials must be >= 0, but got n_startup_trials={self.n_startup_trials}.")


@dataclass(frozen=True)
class PrunerConfig:
    """[pruner]: successive halving by default (bench/study.py: with early stopping it trains about 0.4 of
    the epochs of no pruning, the cheapest of the strategies measured); epochs are the pruning steps."""

    name: str = "successive_halving"
    n_startup_trials: int | None = None  # median, successive_halving: COMPLETE trials before any pruning
                                         # (None: the pruner's default in PRUNERS)
    n_warmup_steps: int = 2  # median: epochs before a trial can be pruned
    interval_steps: int = 1
    min_resource: int | None = None  # successive_halving: None = a tenth of the steps; hyperband: None = 1
    reduction_factor: int = 3
    max_resource: int | None = None  # hyperband: None = [train].epochs

    def __post_init__(self) -> None:
        kind = one_of(PRUNERS, self.name, "name")
        check(self.n_startup_trials is None or self.n_startup_trials >= 0,
              f"n_startup_trials must be >= 0, but got n_startup_trials={self.n_startup_trials}.")
        for key, value in kind.defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        check(self.n_warmup_steps >= 0, f"n_warmup_steps must be >= 0, but got n_warmup_steps={self.n_warmup_steps}.")
        check(self.interval_steps >= 1, f"interval_steps must be >= 1, but got interval_steps={self.interval_steps}.")
        check(self.min_resource is None or self.min_resource >= 1,
              f"min_resource must be >= 1, but got min_resource={self.min_resource}.")
        check(self.reduction_factor >= 2, f"reduction_factor must be >= 2, but got reduction_factor={self.reduction_factor}.")
        check(self.max_resource is None or self.max_resource >= 1,
              f"max_resource must be >= 1, but got max_resource={self.max_resource}.")


# --------------------------------------------------------------------------------------------- samplers
# build(config, seed): the seed is the worker's (tuner/strategy.py), so parallel workers draw differently

def _tpe(s: SamplerConfig, seed: int | None) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.n_startup_trials,
                                      multivariate=s.multivariate, constant_liar=s.constant_liar)


def _random(_s: SamplerConfig, seed: int | None) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(s: SamplerConfig, seed: int | None) -> BaseSampler:
    # categorical dims (cell, batch_size) fall back to the independent sampler
    return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=s.n_startup_trials,
                                        warn_independent_sampling=False)


def _gp(s: SamplerConfig, seed: int | None) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=s.n_startup_trials)


SAMPLERS: dict[str, Kind[BaseSampler]] = {k.name: k for k in (
    Kind("tpe", ("seed", "n_startup_trials", "multivariate", "constant_liar"), _tpe),
    Kind("random", ("seed",), _random),
    Kind("cmaes", ("seed", "n_startup_trials"), _cmaes),
    Kind("gp", ("seed", "n_startup_trials"), _gp),
)}


# --------------------------------------------------------------------------------------------- pruners
# build(config, steps_per_fold, n_folds): the step axis is fold x epoch (tuner/objective.py)

def first_rung(steps_per_fold: int, n_folds: int) -> int:
    """Successive halving's default min_resource: a tenth of a trial's steps, at least 1."""
    return max(1, steps_per_fold * n_folds // 10)


def _median(p: PrunerConfig, steps_per_fold: int, _n_folds: int) -> BasePruner:
    # compares within the current fold only (tuner/pruning.py)
    return FoldPercentilePruner(steps_per_fold, 50.0, n_startup_trials=p.n_startup_trials,
                                n_warmup_steps=p.n_warmup_steps, interval_steps=p.interval_steps)


def _successive_halving(p: PrunerConfig, steps_per_fold: int, n_folds: int) -> BasePruner:
    # the first rung at a tenth of a trial's steps (1 of 10 epochs on one fold, as measured in
    # bench/study.py; 3 of 30 on three folds): Optuna's "auto" would put it at step 1 whatever the
    # number of folds, and cut 9 of 10 trials after one epoch
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_resource or first_rung(steps_per_fold, n_folds),
                                                    reduction_factor=p.reduction_factor)
    return StartupTrials(pruner, p.n_startup_trials) if p.n_startup_trials else pruner


def _hyperband(p: PrunerConfig, steps_per_fold: int, n_folds: int) -> BasePruner:
    # not wrapped: TPE recognises a HyperbandPruner to sample per bracket; the budget is all folds' epochs
    return optuna.pruners.HyperbandPruner(min_resource=p.min_resource or 1,
                                          max_resource=p.max_resource or steps_per_fold * n_folds,
                                          reduction_factor=p.reduction_factor)


def _none(_p: PrunerConfig, _steps_per_fold: int, _n_folds: int) -> BasePruner:
    return optuna.pruners.NopPruner()


PRUNERS: dict[str, Kind[BasePruner]] = {k.name: k for k in (
    Kind("median", ("n_startup_trials", "n_warmup_steps", "interval_steps"), _median, {"n_startup_trials": 5}),
    Kind("successive_halving", ("min_resource", "reduction_factor", "n_startup_trials"), _successive_halving,
         {"n_startup_trials": 0}),
    Kind("hyperband", ("min_resource", "max_resource", "reduction_factor"), _hyperband),
    Kind("none", (), _none),
)}

_REGISTRIES: dict[type, Mapping[str, Kind[Any]]] = {SamplerConfig: SAMPLERS, PrunerConfig: PRUNERS}


def _kind(config: SamplerConfig | PrunerConfig) -> Kind[Any]:
    return _REGISTRIES[type(config)][config.name]


def shown_settings(config: SamplerConfig | PrunerConfig) -> dict[str, Any]:
    """The settings the configured kind reads, in its order, without those left unset (None)."""
    return {k: v for k in _kind(config).settings if (v := getattr(config, k)) is not None}


def check_given_settings(config: SamplerConfig | PrunerConfig, given: Mapping[str, Any], where: str) -> None:
    """InputError when the file sets a key that the named kind does not read (it would be silently ignored)."""
    kind = _kind(config)
    ignored = [k for k in given if k != "name" and k not in kind.settings]
    if ignored:
        reads = ", ".join(kind.settings) or "no other setting"
        raise InputError(f"{ignored[0]} is not a setting of {kind.name!r}, which reads {reads} ({where}); "
                         f"remove {ignored[0]} or choose another name.")
