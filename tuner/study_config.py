"""The study file (studies/*.toml): one frozen StudyConfig, validated completely before any work.

Everything a worker needs is resolved here once: the storage URL (with ${ENV} expansion), the
artifacts dir, the budget, the data and fixed training settings (shared with the run-file format
so that an export is a valid `fit` config), the search space, sampler, pruner, heartbeat and the
local-worker defaults. A bad key fails here, naming the key and the file, with exit code 2.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import env
from common.errors import InputError
from common.settings import check, from_mapping, to_mapping
from data_prep.folds import FoldConfig
from model.config import TrainConfig
from model.metric_names import OBJECTIVES as METRICS
from model.run_file import DataSpec, parse_data, read_toml

from .registry import PRUNERS, SAMPLERS, PrunerConfig, SamplerConfig, check_given_settings
from .space import Dimension, Fixed, parse_search
from .urls import mask_url, validate_storage_url

__all__ = ["StudyConfig", "SamplerConfig", "PrunerConfig", "HeartbeatConfig", "WorkerConfig", "ConfirmConfig",
           "load_study_config", "SAMPLERS", "PRUNERS", "METRICS"]

_TOP_KEYS = {"name", "storage", "artifacts", "n_trials", "timeout", "direction", "metric", "description", "refit_epochs",
             "data", "train", "search", "sampler", "pruner", "heartbeat", "worker", "validation", "confirm"}
# what a confirmation run and the final refit train: the trial's whole [train] budget (the default since
# 2026-12-05), or its best epoch (bench/refit_epochs.py and bench/reconfirm.py measure the two;
# docs/tuning.md#how-many-epochs-the-refit-trains-refit_epochs)
REFIT_EPOCHS = ("best", "budget")
_TABLES = {"data", "train", "search", "sampler", "pruner", "heartbeat", "worker", "validation", "confirm"}


@dataclass(frozen=True)
class HeartbeatConfig:
    """[heartbeat]: a RUNNING trial whose worker has been silent for grace_period s is retried."""

    interval: int = 10
    grace_period: int = 30

    def __post_init__(self) -> None:
        check(self.interval >= 1, f"interval must be >= 1 second, but got interval={self.interval}.")
        check(self.grace_period > self.interval,
              f"grace_period must be > interval ({self.interval}), but got grace_period={self.grace_period}.")


@dataclass(frozen=True)
class WorkerConfig:
    """[worker]: defaults for `launch`/`tune` (local worker processes)."""

    n_workers: int = 2
    threads_per_worker: int | None = None  # None = cores // n_workers
    stagger_seconds: float = 2.0
    workers_per_gpu: int = 1
    max_failures_in_a_row: int = 10  # a worker whose trials keep failing stops (exit 1) instead of spinning

    def __post_init__(self) -> None:
        check(self.n_workers >= 1, f"n_workers must be >= 1, but got n_workers={self.n_workers}.")
        check(self.threads_per_worker is None or self.threads_per_worker >= 1,
              f"threads_per_worker must be >= 1, but got threads_per_worker={self.threads_per_worker}.")
        check(self.stagger_seconds >= 0, f"stagger_seconds must be >= 0, but got stagger_seconds={self.stagger_seconds}.")
        check(self.workers_per_gpu >= 1, f"workers_per_gpu must be >= 1, but got workers_per_gpu={self.workers_per_gpu}.")
        check(self.max_failures_in_a_row >= 1,
              f"max_failures_in_a_row must be >= 1, but got max_failures_in_a_row={self.max_failures_in_a_row}.")


@dataclass(frozen=True)
class ConfirmConfig:
    """[confirm]: retrain the top_k trials with `seeds` fresh seeds on all folds (run by `confirm`, and at
    the end of `tune` when the study file has this table).

    The defaults are what the shipped ensemble (the confirmed configurations x these seeds) measured
    best at on bench/payoff.py's planted markets (bench/ensemble_size.py): 3 seeds averaged away more
    of the seed lottery than 2 (ahead of the defaults on 9 of 10 markets, not 7), and in those 12-trial
    studies (4-7 COMPLETE) a top 4-5 let in weaker start-up trials that pulled the average down
    (bench/README.md, "How big an ensemble"). Not measured on long studies (studies/krx_scale.toml: 5)."""

    top_k: int = 3
    seeds: int = 3

    def __post_init__(self) -> None:
        check(self.top_k >= 1, f"top_k must be >= 1, but got top_k={self.top_k}.")
        check(self.seeds >= 1, f"seeds must be >= 1, but got seeds={self.seeds}.")


@dataclass(frozen=True)
class StudyConfig:
    name: str
    storage: str  # the real URL (may hold a password): never print it, use storage_masked
    artifacts: Path
    n_trials: int
    timeout: float | None
    direction: str
    metric: str
    data: DataSpec
    train: dict[str, Any]  # fixed [train] values (validated as a TrainConfig)
    search: dict[str, Dimension]
    sampler: SamplerConfig
    pruner: PrunerConfig
    heartbeat: HeartbeatConfig
    worker: WorkerConfig
    validation: FoldConfig = FoldConfig()
    confirm: ConfirmConfig | None = None  # None: no [confirm] table (`stocktune confirm` uses the defaults)
    path: Path | None = None
    description: str = ""  # shown at the top of the dashboard's study note
    refit_epochs: str = "budget"  # REFIT_EPOCHS: the epochs confirmation runs and the final refit train

    def refit_epochs_for(self, params: Mapping[str, Any], best_epoch: Any) -> int:
        """The epochs a confirmation run and the final refit of a trial train (``refit_epochs``):
        "best", the trial's best epoch (the median over its folds), else its [train] epochs (a trial
        that did not finish); "budget", its [train] epochs: the whole schedule the trial was given."""
        if self.refit_epochs == "best" and isinstance(best_epoch, int) and not isinstance(best_epoch, bool) \
                and best_epoch >= 1:
            return best_epoch
        fixed = {k: v.value for k, v in self.search.items() if isinstance(v, Fixed)}
        return self.train_config({**fixed, **params}).epochs

    @property
    def storage_masked(self) -> str:
        return mask_url(self.storage)

    @property
    def checkpoint_dir(self) -> Path:
        """Checkpoints keyed by study and trial lineage, in the shared artifacts dir."""
        return self.artifacts / "checkpoints" / self.name

    @property
    def steps_per_fold(self) -> int:
        """Pruning steps per fold on the one step axis: the most epochs any trial can train."""
        dim = self.search.get("epochs")
        return int(max(dim.extremes())) if dim is not None else int(self.train.get("epochs", TrainConfig.epochs))

    def train_config(self, params: Mapping[str, Any], **runtime: Any) -> TrainConfig:
        """Fixed [train] ∪ sampled params (∪ runtime such as threads) -> TrainConfig."""
        return TrainConfig.from_mapping({**self.train, **params, **runtime}, f"{self.path}, trial params")


def _expand_env(value: str, key: str, where: str) -> str:
    """${VAR} or ${VAR:-default} expansion, so a password can live in the environment, not the file."""

    def missing(var: str) -> str:
        raise InputError(f"{key} refers to the environment variable ${{{var}}}, which is not set ({where}); "
                         f"export it or write the value in the file.")

    return env.expand(value, missing)


def _table(doc: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise InputError(f"{name} must be a table [{name}], but got {name}={value!r} ({path}).")
    return value


def load_study_config(path: str | Path, storage: str | None = None, n_trials: int | None = None,
                      timeout: float | None = None) -> StudyConfig:
    """Read and validate a study file; the keyword arguments are CLI overrides (CLI > file > default)."""
    path = Path(path)
    doc = read_toml(path)
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        kind = "table" if isinstance(doc[unknown[0]], dict) else "key"
        shown = f"[{unknown[0]}]" if kind == "table" else repr(unknown[0])
        raise InputError(f"unknown {kind} {shown} ({path}); a study file has {', '.join(sorted(_TOP_KEYS - _TABLES))} "
                         f"and the tables {', '.join(f'[{t}]' for t in sorted(_TABLES))}.")
    for t in _TABLES:
        _table(doc, t, path)

    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise InputError(f"name must be 1-100 letters, digits, '.', '_' or '-', but got name={name!r} ({path}).")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"description must be a string, but got description={description!r} ({path}).")

    raw_storage = storage if storage is not None else doc.get("storage", f"sqlite:///runs/{name}/study.db")
    where_storage = "--storage" if storage is not None else str(path)
    if not isinstance(raw_storage, str):
        raise InputError(f"storage must be a URL string, but got storage={raw_storage!r} ({path}).")
    storage_url = validate_storage_url(_expand_env(raw_storage, "storage", where_storage), where_storage)

    artifacts = doc.get("artifacts", f"runs/{name}/artifacts")
    if not isinstance(artifacts, str) or not artifacts:
        raise InputError(f"artifacts must be a directory path, but got artifacts={artifacts!r} ({path}).")
    artifacts_path = Path(_expand_env(artifacts, "artifacts", str(path)))

    n = n_trials if n_trials is not None else doc.get("n_trials", 20)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"n_trials must be a positive integer, but got n_trials={n!r} "
                         f"({'--n-trials' if n_trials is not None else path}).")
    t = timeout if timeout is not None else doc.get("timeout")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or t <= 0):
        raise InputError(f"timeout must be a positive number of seconds, but got timeout={t!r} "
                         f"({'--timeout' if timeout is not None else path}).")

    refit = doc.get("refit_epochs", "budget")
    if refit not in REFIT_EPOCHS:
        raise InputError(f"refit_epochs must be one of {list(REFIT_EPOCHS)}, but got refit_epochs={refit!r} ({path}): "
                         "\"best\" refits for the trial's best epoch, \"budget\" for its [train] epochs.")
    metric = doc.get("metric", "val_mae")
    if metric not in METRICS:
        raise InputError(f"metric must be one of {sorted(METRICS)}, but got metric={metric!r} ({path}).")
    direction = doc.get("direction", METRICS[metric])
    if direction not in ("minimize", "maximize"):
        raise InputError(f"direction must be 'minimize' or 'maximize', but got direction={direction!r} ({path}).")
    if direction != METRICS[metric]:
        raise InputError(f"metric and direction contradict each other: metric={metric!r} is to "
                         f"{METRICS[metric]}, but got direction={direction!r} ({path}); write "
                         f"direction = \"{METRICS[metric]}\" or leave direction out (it follows the metric).")

    if "data" not in doc:
        raise InputError(f"{path} has no [data] table; it needs at least `source = \"sample\"`.")
    data = parse_data(doc["data"], f"{path}, [data]")
    train_table = _table(doc, "train", path)
    TrainConfig.from_mapping(train_table, f"{path}, [train]")  # validate types and ranges of the fixed part
    search = parse_search(_table(doc, "search", path), train_table, f"{path}, [search]")

    def sub(cls: type, key: str) -> Any:
        return from_mapping(cls, _table(doc, key, path), f"{path}, [{key}]")

    def kind(cls: type, key: str) -> Any:
        """[sampler]/[pruner]: a known name (tuner/registry.py), and only settings that kind reads."""
        config = sub(cls, key)
        check_given_settings(config, _table(doc, key, path), f"{path}, [{key}]")
        return config

    return StudyConfig(
        name=name, storage=storage_url, artifacts=artifacts_path, n_trials=n,
        timeout=None if t is None else float(t), direction=direction, metric=metric, data=data,
        train=dict(train_table), search=search, sampler=kind(SamplerConfig, "sampler"),
        pruner=kind(PrunerConfig, "pruner"), heartbeat=sub(HeartbeatConfig, "heartbeat"),
        worker=sub(WorkerConfig, "worker"), validation=sub(FoldConfig, "validation"),
        confirm=sub(ConfirmConfig, "confirm") if "confirm" in doc else None, path=path, description=description,
        refit_epochs=refit,
    )


def describe(cfg: StudyConfig) -> dict[str, Any]:
    """The resolved study, JSON/TOML-friendly and with the storage masked (logged once at start)."""
    return {
        "name": cfg.name, "storage": cfg.storage_masked, "artifacts": str(cfg.artifacts),
        "n_trials": cfg.n_trials, "timeout": cfg.timeout, "direction": cfg.direction, "metric": cfg.metric,
        "refit_epochs": cfg.refit_epochs, "data": cfg.data.to_mapping(), "train": cfg.train,
        "search": {k: v.to_mapping() for k, v in cfg.search.items()},
        "sampler": to_mapping(cfg.sampler), "pruner": to_mapping(cfg.pruner),
        "heartbeat": to_mapping(cfg.heartbeat), "worker": to_mapping(cfg.worker),
        "validation": to_mapping(cfg.validation), "confirm": to_mapping(cfg.confirm) if cfg.confirm else None,
    }
