"""One trial: sample params, train with per-epoch reporting and pruning, record what happened.

The trial's checkpoint lives in the shared artifacts dir under its *lineage* (the number of the
first trial of a retry chain), so a trial re-queued after its worker died resumes from the last
finished epoch on whichever worker picks it up, instead of starting over.
"""
from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from common.errors import InputError
from common.files import json_safe
from model.metric_names import VALIDATION_METRICS

from .optuna_adapter import storage_of, trial_id_of
from .retry import with_retries
from .signals import StopFlag
from .space import suggest
from .study_config import StudyConfig

__all__ = ["Objective", "TrialInterrupted", "lineage_of", "checkpoint_path"]

log = logging.getLogger("stocktune.worker")



class TrialInterrupted(Exception):
    """The worker was asked to stop (SIGTERM/SIGINT) in the middle of this trial."""


def lineage_of(frozen: optuna.trial.FrozenTrial) -> int:
    """The original trial number of a retry chain (the trial itself when it is not a retry)."""
    original = frozen.system_attrs.get("failed_trial")
    return int(original) if original is not None else int(frozen.number)


def checkpoint_path(cfg: StudyConfig, lineage: int) -> Path:
    return cfg.checkpoint_dir / f"{lineage}.pt"


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


def data_splits_used(meta: dict[str, Any], splits: tuple[str, ...]) -> dict[str, list[str]]:
    """{"train": [start, end], "val": [start, end]} from the dataset meta (proof of no test-period use)."""
    out: dict[str, list[str]] = {}
    for name in splits:
        s = (meta.get("splits") or {}).get(name) or {}
        out[name] = [str(s.get("start")), str(s.get("end"))]
    return out


@dataclass
class Objective:
    """Callable on a live trial; keeps the last fit result for the story hook."""

    cfg: StudyConfig
    dataset: Any  # data_prep.PreparedDataset (memory-mapped, shared by every trial of this worker)
    stop: StopFlag
    threads: int | None = None
    last_fit: Any = field(default=None, init=False)
    last_checkpoint: Path | None = field(default=None, init=False)

    def __call__(self, trial: optuna.Trial) -> float:
        import model  # torch is imported only once a trial runs

        self.last_fit, self.last_checkpoint = None, None
        storage = storage_of(trial.study)
        # Optuna 5's retry helpers refuse a live trial: read the frozen one from storage
        frozen = with_retries(lambda: storage.get_trial(trial_id_of(trial)), "reading the trial")
        lineage = lineage_of(frozen)
        history_chain = list(frozen.system_attrs.get("retry_history", []))
        # idempotent: re-suggesting a param that did get stored returns the stored value
        params = with_retries(lambda: suggest(trial, self.cfg.search), "sampling params")
        runtime = {"threads": self.threads} if self.threads else {}
        tcfg = self.cfg.train_config(params, **runtime)

        ckpt = checkpoint_path(self.cfg, lineage)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        resume_from, resumed_epoch = None, None
        if history_chain and ckpt.is_file():
            resume_from, resumed_epoch = ckpt, _checkpoint_epoch(ckpt)
        elif not history_chain and ckpt.exists():
            ckpt.unlink()  # left over from an older study of the same name: never resume a stranger

        meta = self.dataset.meta
        used = tuple(tcfg.train_splits) + ((tcfg.eval_split,) if tcfg.eval_split else ())
        attrs: dict[str, Any] = {
            "worker_host": socket.gethostname(), "worker_pid": os.getpid(),
            "stocktune_version": _package_version(), "dataset_cache_key": str(meta.get("cache_key", "")),
            "data_splits_used": data_splits_used(meta, used), "lineage": lineage,
            "checkpoint": str(ckpt),
        }
        if history_chain:
            attrs.update(retried_from=int(history_chain[-1]), retry_history=[int(n) for n in history_chain],
                         resumed_from_epoch=resumed_epoch)
        self._set_attrs(trial, attrs)
        log.info("trial %d (lineage %d) starts: %s%s", trial.number, lineage, params,
                 f", resuming from {ckpt} (epoch {resumed_epoch})" if resume_from else "")

        state = {"first_epoch": None, "pruned_at": None, "interrupted": False}

        def on_epoch(epoch: int, metrics: dict[str, Any]) -> bool:
            if state["first_epoch"] is None:
                state["first_epoch"] = epoch
                self._set_attrs(trial, {"first_reported_epoch": int(epoch)})
            value = float(metrics[self.cfg.metric])
            if math.isfinite(value):
                with_retries(lambda: trial.report(value, epoch), "reporting an epoch")
            if self.stop:
                state["interrupted"] = True
                return False
            if with_retries(trial.should_prune, "asking the pruner"):
                state["pruned_at"] = epoch
                return False
            return True

        result = model.fit(self.dataset, tcfg, on_epoch=on_epoch, checkpoint_path=ckpt, resume_from=resume_from)
        self.last_fit, self.last_checkpoint = result, ckpt
        self._set_attrs(trial, self._result_attrs(result))
        if state["interrupted"]:
            raise TrialInterrupted(self.stop.reason or "worker stopped")
        if state["pruned_at"] is not None:
            raise optuna.TrialPruned(f"pruned at epoch {state['pruned_at']}")
        value = result.best_metrics.get(self.cfg.metric) if result.best_metrics else None
        if value is None or not math.isfinite(float(value)):
            raise FloatingPointError(f"{self.cfg.metric} of the best epoch is {value!r}")
        return float(value)

    def _result_attrs(self, result: Any) -> dict[str, Any]:
        best = dict(result.best_metrics or {})
        history = list(result.history or [])
        attrs = {k: json_safe(best.get(k)) for k in VALIDATION_METRICS if k in best}
        rates = [float(h["samples_per_s"]) for h in history if h.get("samples_per_s")]
        rss = [float(h["rss_mb"]) for h in history if h.get("rss_mb") is not None]
        attrs.update(
            best_epoch=json_safe(result.best_epoch),
            epochs_run=int(max((h.get("epoch", 0) for h in history), default=0)),
            samples_per_s=json_safe(sorted(rates)[len(rates) // 2]) if rates else None,
            peak_rss_mb=json_safe(max(rss)) if rss else None,
            device=str(getattr(result, "device", "")),
        )
        return attrs

    @staticmethod
    def _set_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
        for k, v in attrs.items():
            with_retries(lambda k=k, v=v: trial.set_user_attr(k, v), "setting a user attr")
