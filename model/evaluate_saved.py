"""`stocktune evaluate`: score a model directory (``model_dir``) on its dataset's test period, next to
shuffled-label controls, and write evaluation.json (plus plots).

The dataset is found again by the cache key recorded at training time, so a model keeps working
after its raw source moved; only when the cache lacks that key is the source prepared again. An
ensemble is scored as one model: the mean of its members' rise probabilities.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import data_prep
from common.errors import InputError
from common.files import write_json_atomic
from data_prep.config import PrepConfig
from data_prep.dataset import PreparedDataset

from .config import TrainConfig
from .devices import check_device, use_threads
from .evaluation import Evaluation
from .model_dir import MemberInfo, ModelDirInfo, check_model_dir, load_model_dir
from .periods import Periods, period_info

__all__ = ["EvaluationReport", "control_configs", "dataset_for", "evaluate_model_dir", "write_evaluation"]

OnEpoch = Callable[[int, dict[str, float]], bool | None]


@dataclass(frozen=True)
class EvaluationReport:
    """What `evaluate` found: evaluation.json, typed (``to_json`` is its one writer)."""

    model_dir: str
    created_at: str
    source: str
    dataset_cache_key: str
    model_dataset_cache_key: str | None
    target_method: str | None
    look_back: int
    look_ahead: int
    periods: Periods
    train_config: TrainConfig  # the (first member's) config as scored: --device/--threads applied
    fit: dict[str, Any]  # the model directory's extra.json, as recorded by the refit
    evaluation: Evaluation
    members: tuple[MemberInfo, ...] = ()  # an ensemble's members (empty for a single model)
    verdicts: tuple[str, ...] = ()  # the study's verdict lines the run file carried into the directory
    plots: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_dir": self.model_dir, "created_at": self.created_at, "source": self.source,
            "dataset_cache_key": self.dataset_cache_key, "model_dataset_cache_key": self.model_dataset_cache_key,
            "target_method": self.target_method, "look_back": self.look_back, "look_ahead": self.look_ahead,
            "periods": self.periods.to_json(), "train_config": self.train_config.to_mapping(), "fit": self.fit,
            **self.evaluation.to_json(),
        }
        if self.members:
            out["ensemble"] = [{"name": m.name, "trial": m.trial, "seed": m.seed, "train_config": m.cfg.to_mapping()}
                               for m in self.members]
        if self.verdicts:
            out["verdicts"] = list(self.verdicts)
        if self.plots is not None:
            out["plots"] = self.plots
        return out


def dataset_for(info: ModelDirInfo, cache_root: Path, progress: bool = True) -> tuple[PreparedDataset, str | None]:
    """(the dataset the model was trained on, a warning or None): by its cache key first, else by
    preparing the recorded source again (which may have changed since)."""
    meta, model_dir = info.meta, info.path
    key = str(meta.get("cache_key", ""))
    found = data_prep.load_cached(cache_root, key) if key else None
    if found is not None:
        return found.dataset(), None
    source = meta["source"]
    prep = PrepConfig.from_mapping(meta["prep"], f"{model_dir / 'dataset_meta.json'}, prep")
    try:
        result = data_prep.prepare(source, prep, cache_root, progress=progress)
    except InputError as e:
        raise InputError(f"the dataset of {model_dir} (cache key {key or '?'}) is not in the cache {cache_root}, "
                         f"and preparing its source again failed: {e} Point --cache (or STOCKTUNE_CACHE) at the "
                         "cache it was trained with, or restore the source.") from None
    dataset = result.dataset()
    warning = None
    if key and dataset.cache_key != key:
        warning = (f"the data behind {source!r} changed since the model was trained (cache key {key[:12]} -> "
                   f"{dataset.cache_key[:12]}); the test period and the scaling may differ.")
    return dataset, warning


def _scored(cfg: TrainConfig, device: str | None, threads: int | None) -> TrainConfig:
    cfg = cfg if device is None else dataclasses.replace(cfg, device=device)
    return cfg if threads is None else dataclasses.replace(cfg, threads=threads)


def control_configs(info: ModelDirInfo, n_controls: int, device: str | None = None,
                    threads: int | None = None) -> list[TrainConfig]:
    """The config each control trains: the model's; for an ensemble, its members' in turn (control k
    trains member k mod M's config: one shuffled-label run per control whatever the ensemble's size,
    which is what the leak test needs)."""
    members = info.members
    return [_scored(members[k % len(members)].cfg, device, threads) for k in range(n_controls)]


def _check_devices(info: ModelDirInfo, device: str | None) -> None:
    if device is not None:
        check_device(device, "--device")
        return
    for m in info.members:
        check_device(m.cfg.device, f"{m.path / 'config.json'}; override it with --device cpu")


def evaluate_model_dir(model_dir: str | Path, cache_root: Path, *, n_controls: int = 3, control_seed: int = 12345,
                       device: str | None = None, n_bins: int = 10, on_control_epoch: OnEpoch | None = None,
                       progress: bool = True, threads: int | None = None) -> EvaluationReport:
    """Score MODEL_DIR on its dataset's test period, next to ``n_controls`` shuffled-label controls
    (trained with ``threads`` CPU threads, like the scoring)."""
    from . import evaluation as E

    if n_bins < 1:
        raise InputError(f"--bins must be >= 1, but got --bins={n_bins}.")
    if n_controls < 0:
        raise InputError(f"--controls must be >= 0, but got --controls={n_controls}.")
    info = check_model_dir(model_dir)
    _check_devices(info, device)
    if threads is not None:
        use_threads(threads)
    saved = load_model_dir(info)
    dataset, warning = dataset_for(info, cache_root, progress)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    cfg = _scored(info.members[0].cfg, device, threads)
    cfg = dataclasses.replace(cfg, eval_batch_size=saved.eval_batch_size)
    controls = control_configs(info, n_controls, device, threads)
    seeds = [control_seed + k for k in range(n_controls)]
    nets = [E.train_control(dataset, c, seed=s, on_epoch=on_control_epoch) for c, s in zip(controls, seeds)]
    epochs = {c.epochs for c in controls}
    ev = E.evaluate_split(saved.net, dataset, cfg, split="test", control_nets=nets, control_seeds=seeds,
                          device=device, n_bins=n_bins, control_epochs=epochs.pop() if len(epochs) == 1 else None)
    return EvaluationReport(
        model_dir=str(info.path), created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=str(info.meta.get("source")), dataset_cache_key=dataset.cache_key,
        model_dataset_cache_key=info.meta.get("cache_key"), target_method=dataset.meta.get("target_method"),
        look_back=dataset.look_back, look_ahead=dataset.look_ahead, periods=period_info(dataset),
        train_config=cfg, fit=info.extra, evaluation=ev, members=info.members if info.ensemble else (), verdicts=info.verdicts)


def write_evaluation(out_dir: Path, report: EvaluationReport, plots: bool = True) -> Path:
    """evaluation.json (strict JSON, atomically) and, unless ``plots`` is False, the eval_*.png plots."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        from .plots import write_evaluation_plots

        ev = report.evaluation
        scored = {"model": ev.model, **({"control": ev.control.metrics} if ev.control is not None else {})}
        report = dataclasses.replace(report, plots=write_evaluation_plots(out_dir, scored, ev.series))
    return write_json_atomic(out_dir / "evaluation.json", report.to_json())
