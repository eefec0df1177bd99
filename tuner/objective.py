"""One trial: sample params, train every walk-forward fold with per-epoch reporting and pruning,
record what happened.

The trial's value is the mean over the folds of the study metric at each fold's best epoch. Epochs
are reported on one step axis, step = (fold - 1) x steps_per_fold + epoch, so a pruner compares
trials only at equal (fold, epoch). Each fold's checkpoint lives in the shared artifacts dir under the
trial's *lineage* (the number of the first trial of a retry chain), so a trial re-queued after its
worker died resumes on whichever worker picks it up: finished folds return at once from their
checkpoints, the interrupted one continues from its last finished epoch.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import statistics
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from common.errors import InputError
from common.files import json_safe, write_atomic
from data_prep.folds import FoldPlan
from model.metric_names import VALIDATION_METRICS

from .defaults_arm import DEFAULTS_ATTR
from .optuna_adapter import set_user_attrs, storage_of, trial_id_of
from .retry import with_retries
from .signals import StopFlag
from .space import suggest
from .study_config import StudyConfig

__all__ = ["Objective", "TrialInterrupted", "TrialRun", "lineage_of", "checkpoint_path", "series_path",
           "CONFIRM_SEED_ATTR", "CONFIRM_EPOCHS_ATTR"]

log = logging.getLogger("stocktune.worker")

CONFIRM_SEED_ATTR = "confirm_seed"  # user attr of a confirmation run: the seed it trains with
CONFIRM_EPOCHS_ATTR = "confirm_epochs"  # user attr of a confirmation run: the epochs it trains, fixed in advance


class TrialInterrupted(Exception):
    """The worker was asked to stop (SIGTERM/SIGINT) in the middle of this trial."""


def lineage_of(frozen: optuna.trial.FrozenTrial) -> int:
    """The original trial number of a retry chain (the trial itself when it is not a retry)."""
    original = frozen.system_attrs.get("failed_trial")
    return int(original) if original is not None else int(frozen.number)


def checkpoint_path(cfg: StudyConfig, lineage: int, fold: int = 1, n_folds: int = 1) -> Path:
    return cfg.checkpoint_dir / (f"{lineage}.pt" if n_folds == 1 else f"{lineage}.fold{fold}.pt")


def series_path(cfg: StudyConfig, number: int) -> Path:
    """Per-date validation errors of a COMPLETE trial (all folds), which the verdict reads."""
    return cfg.artifacts / "series" / cfg.name / f"trial{number}.npz"


def _package_version() -> str:
    try:
        return metadata.version("stocktune")
    except metadata.PackageNotFoundError:
        return "unknown"


def _checkpoint_epoch(path: Path) -> int | None:
    """The last finished epoch stored in a checkpoint (None when unreadable: fit then decides)."""
    from model.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(path)["epoch"])
    except InputError as e:
        log.warning("could not read the epoch of checkpoint %s: %s", path, e)
        return None


@dataclass
class TrialRun:
    """What a finished trial leaves for the story hook: each fold's fit and the last fold's checkpoint."""

    fits: list[Any]  # model.FitResult per fold
    checkpoint: Path

    @property
    def last(self) -> Any:
        return self.fits[-1]


@dataclass
class Objective:
    """Callable on a live trial; keeps the last trial's run for the story hook."""

    cfg: StudyConfig
    dataset: Any  # data_prep.PreparedDataset (memory-mapped, shared by every trial of this worker)
    folds: FoldPlan
    stop: StopFlag
    threads: int | None = None
    last: TrialRun | None = field(default=None, init=False)

    def __call__(self, trial: optuna.Trial) -> float:
        import model  # torch is imported only once a trial runs

        self.last = None
        cfg, plan = self.cfg, self.folds
        storage = storage_of(trial.study)
        # Optuna 5's retry helpers refuse a live trial: read the frozen one from storage
        frozen = with_retries(lambda: storage.get_trial(trial_id_of(trial)), "reading the trial")
        lineage = lineage_of(frozen)
        history_chain = list(frozen.system_attrs.get("retry_history", []))
        # idempotent: re-suggesting a param that did get stored returns the stored value
        params = with_retries(lambda: suggest(trial, cfg.search), "sampling params")
        runtime: dict[str, Any] = {"monitor": cfg.metric}
        if self.threads:
            runtime["threads"] = self.threads
        if CONFIRM_SEED_ATTR in frozen.user_attrs:
            runtime["seed"] = int(frozen.user_attrs[CONFIRM_SEED_ATTR])
        fixed_epochs = frozen.user_attrs.get(CONFIRM_EPOCHS_ATTR)
        fit_kwargs: dict[str, Any] = {}
        if fixed_epochs is not None:
            # a confirmation run: exactly the epochs the final refit trains, scored at the last of them
            runtime.update(epochs=int(fixed_epochs), patience=0)
            fit_kwargs["keep_last"] = True
        # the defaults trial is the arm the winner is compared with: it always runs to the end
        prunable = cfg.pruner.name != "none" and frozen.user_attrs.get(DEFAULTS_ATTR) is not True
        tcfg = cfg.train_config(params, **runtime)

        n = len(plan)
        ckpts = [checkpoint_path(cfg, lineage, f.number, n) for f in plan.folds]
        ckpts[0].parent.mkdir(parents=True, exist_ok=True)
        if not history_chain:
            for c in ckpts:  # left over from an older study of the same name: never resume a stranger
                c.unlink(missing_ok=True)
        resumed = {i + 1: _checkpoint_epoch(c) for i, c in enumerate(ckpts) if history_chain and c.is_file()}
        meta = self.dataset.meta
        attrs: dict[str, Any] = {
            "worker_host": socket.gethostname(), "worker_pid": os.getpid(),
            "stocktune_version": _package_version(), "dataset_cache_key": str(meta.get("cache_key", "")),
            "data_splits_used": {"train": [plan.folds[0].train_period[0], plan.folds[-1].train_period[1]],
                                 "val": [plan.folds[0].val_period[0], plan.folds[-1].val_period[1]]},
            "folds": plan.describe(), "lineage": lineage, "checkpoint": str(ckpts[-1]),
        }
        if history_chain:
            attrs.update(retried_from=int(history_chain[-1]), retry_history=[int(x) for x in history_chain],
                         resumed_from_epoch={str(k): v for k, v in resumed.items()})
        self._set_attrs(trial, attrs)
        log.info("trial %d (lineage %d) starts: %s%s", trial.number, lineage, params,
                 f", resuming folds {resumed}" if resumed else "")

        state: dict[str, Any] = {"first_step": None, "pruned_at": None, "interrupted": False}
        fits: list[Any] = []
        for fold, ckpt in zip(plan.folds, ckpts):
            offset = (fold.number - 1) * cfg.steps_per_fold

            def on_epoch(epoch: int, metrics: dict[str, Any], offset: int = offset, fold: int = fold.number) -> bool:
                step = offset + epoch
                state["first_step"] = state["first_step"] or step
                value = float(metrics[cfg.metric])
                if math.isfinite(value):
                    with_retries(lambda: trial.report(value, step), "reporting an epoch")
                if self.stop:
                    state["interrupted"] = True
                    return False
                if prunable and with_retries(trial.should_prune, "asking the pruner"):
                    state["pruned_at"] = (fold, epoch)
                    return False
                return True

            resume = ckpt if fold.number in resumed else None
            fits.append(model.fit(plan.dataset(self.dataset, fold.number), tcfg, on_epoch=on_epoch,
                                  checkpoint_path=ckpt, resume_from=resume, **fit_kwargs))
            if state["interrupted"] or state["pruned_at"] is not None:
                break
        self.last = TrialRun(fits, ckpts[len(fits) - 1])
        self._set_attrs(trial, {**self._result_attrs(fits), "first_reported_step": state["first_step"]})
        if state["interrupted"]:
            raise TrialInterrupted(self.stop.reason or "worker stopped")
        if state["pruned_at"] is not None:
            fold, epoch = state["pruned_at"]
            raise optuna.TrialPruned(f"pruned at epoch {epoch}" + (f" of fold {fold}" if n > 1 else ""))
        values = [f.best_metrics.get(cfg.metric) for f in fits]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            raise FloatingPointError(f"{cfg.metric} of a fold's best epoch is not finite: {values}")
        self._save_series(trial.number, fits)
        return float(np.mean(values))

    def _result_attrs(self, fits: list[Any]) -> dict[str, Any]:
        """Each validation metric as the mean over the folds of its best epoch's value, and the folds' own."""
        metric = self.cfg.metric
        best = [dict(f.best_metrics or {}) for f in fits]
        history = [h for f in fits for h in (f.history or [])]
        attrs: dict[str, Any] = {k: json_safe(float(np.mean([b[k] for b in best]))) for k in VALIDATION_METRICS
                                 if all(k in b for b in best)}
        fold_values = [json_safe(b.get(metric)) for b in best]
        rates = [float(h["samples_per_s"]) for h in history if h.get("samples_per_s")]
        rss = [float(h["rss_mb"]) for h in history if h.get("rss_mb") is not None]
        best_epochs = [int(f.best_epoch) for f in fits]
        attrs.update(
            fold_values=fold_values,
            fold_std=json_safe(float(np.std(fold_values, ddof=1))) if len(fits) > 1 and None not in fold_values else None,
            fold_best_epochs=best_epochs,
            fold_stopped_early=[bool(f.stopped_early) for f in fits],
            # the epochs a final refit trains (`fit --final`): the folds' median best epoch
            best_epoch=int(round(statistics.median(best_epochs))) if best_epochs else None,
            epochs_run=len(history),
            samples_per_s=json_safe(sorted(rates)[len(rates) // 2]) if rates else None,
            peak_rss_mb=json_safe(max(rss)) if rss else None,
            device=str(fits[-1].device) if fits else "",
        )
        return attrs

    def _save_series(self, number: int, fits: list[Any]) -> None:
        """The folds' per-date validation errors at their best epochs (a confirmation run's: at its last,
        fixed epoch), for the verdict (one small file)."""
        from model.selection import concat, date_series

        parts = [date_series(f.evaluation.pred, f.evaluation.target, f.evaluation.date, f.evaluation.train_mean)
                 for f in fits if f.evaluation is not None]
        if not parts:
            return
        series = concat(parts)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **series.to_npz())

        write_atomic(series_path(self.cfg, number), write)

    @staticmethod
    def _set_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
        """All of ``attrs`` in one storage transaction (a worker's storage time stays a small share)."""
        safe = {k: json_safe(v) for k, v in attrs.items()}
        with_retries(lambda: set_user_attrs(storage_of(trial.study), trial_id_of(trial), safe), "setting user attrs")
