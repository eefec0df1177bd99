"""`stocktune fit`: train a run file's configuration (or each member of an ensemble run file) and save
the model directory (``model_dir``).

The final refit trains on train + validation with no evaluation split, so the test period stays
unread until `evaluate`, for the epoch count the tuned trial reached its best at.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import data_prep
from common.errors import InputError
from data_prep.dataset import PreparedDataset

from .config import TrainConfig
from .devices import check_device, use_threads
from .model_dir import MemberModel, save_ensemble, save_model
from .run_file import RunConfig, RunMember

__all__ = ["final_config", "train_config_for", "member_configs", "FitRun", "prepare_run", "fit_run",
           "check_ensemble_fit", "fit_members", "save_fit", "save_members"]

OnEpoch = Callable[[int, dict[str, float]], bool | None]


def final_config(cfg: TrainConfig, epochs: int) -> TrainConfig:
    """The final refit: the same settings on train + validation for ``epochs`` epochs, with no
    evaluation split, so the test period stays unread until `evaluate`."""
    return dataclasses.replace(cfg, epochs=epochs, train_splits=("train", "val"), eval_split=None)


def _check_epochs(epochs: int | None) -> None:
    if epochs is not None and epochs < 1:
        raise InputError(f"--epochs must be >= 1, but got --epochs {epochs}.")


def train_config_for(rc: RunConfig, final: bool = False, epochs: int | None = None) -> TrainConfig:
    """The run file's [train] for a plain fit, or its final refit: ``epochs`` (the CLI), else
    [result].refit_epochs (what the study's rule chose at export), else [result].best_epoch (the tuned
    trial's best epoch), else [train].epochs."""
    _check_epochs(epochs)
    if final:
        return final_config(rc.train, epochs or rc.refit_epochs or rc.best_epoch or rc.train.epochs)
    return dataclasses.replace(rc.train, epochs=epochs) if epochs is not None else rc.train


def member_configs(rc: RunConfig, epochs: int | None = None) -> list[tuple[RunMember, TrainConfig]]:
    """Each ensemble member's final refit: ``epochs`` (the CLI), else the member's epochs (its trial's
    best epoch), else its [members.train] epochs."""
    _check_epochs(epochs)
    return [(m, final_config(m.train, epochs or m.epochs or m.train.epochs)) for m in rc.members]


@dataclass(frozen=True)
class FitRun:
    """One `stocktune fit`: what was trained, on which dataset, with which effective settings."""

    result: Any  # model.FitResult
    dataset: PreparedDataset
    prep: data_prep.PrepResult
    cfg: TrainConfig
    final: bool


def prepare_run(rc: RunConfig, configs: list[TrainConfig], cache_root: Path, *, progress: bool = True,
                device_where: str = "[train]") -> data_prep.PrepResult:
    """Check every config's device (``device_where`` names where it was set), then prepare (or find) the
    run file's dataset: a missing GPU costs nothing."""
    for cfg in configs:
        check_device(cfg.device, device_where)
    return data_prep.prepare(rc.data.source, rc.data.prep, cache_root, progress=progress)


def fit_run(prep: data_prep.PrepResult, cfg: TrainConfig, *, final: bool = False, on_epoch: OnEpoch | None = None,
            checkpoint: str | None = None, resume: str | None = None, threads: int | None = None) -> FitRun:
    """Train ``cfg`` on the prepared dataset with ``threads`` CPU threads (recorded in the config)."""
    from .train import fit

    if threads is not None:
        cfg = dataclasses.replace(cfg, threads=threads)
    if cfg.threads is not None:
        use_threads(cfg.threads)
    dataset = prep.dataset()
    result = fit(dataset, cfg, on_epoch=on_epoch, checkpoint_path=checkpoint, resume_from=resume)
    return FitRun(result, dataset, prep, cfg, final)


def check_ensemble_fit(rc: RunConfig, final: bool, out: Path | None, checkpoint: str | None) -> None:
    """An ensemble run file is for a final refit into a directory, without one model's checkpoint."""
    if not final or out is None:
        raise InputError(f"{rc.path} is an ensemble run file ({len(rc.members)} members): train it with "
                         f"`stocktune fit --config {rc.path} --final --out DIR`.")
    if checkpoint:
        raise InputError("--checkpoint/--resume take one model's checkpoint; an ensemble run file trains several "
                         "members: run it without them.")


def fit_members(prep: data_prep.PrepResult, members: list[tuple[RunMember, TrainConfig]], *,
                threads: int | None = None, bar: Callable[[int, str], AbstractContextManager[OnEpoch]] | None = None,
                say: Callable[[str], None] | None = None) -> list[FitRun]:
    """Train every ensemble member on the same prepared dataset, one after the other: ``bar(epochs,
    label)`` gives each member's per-epoch callback (a progress bar), ``say`` gets a line per member."""
    runs = []
    for i, (m, cfg) in enumerate(members, 1):
        label = f"member {i}/{len(members)} {m.name}"
        with bar(cfg.epochs, label) if bar is not None else nullcontext(None) as on_epoch:
            runs.append(fit_run(prep, cfg, final=True, on_epoch=on_epoch, threads=threads))
        if say is not None:
            r = runs[-1].result
            say(f"{label}: {len(r.history)} epochs, train_loss {r.best_metrics.get('train_loss', float('nan')):.4f}")
    return runs


def _extra(run: FitRun, rc: RunConfig) -> dict[str, Any]:
    r = run.result
    return {"best_epoch": r.best_epoch, "best_metrics": r.best_metrics, "final": run.final,
            "epochs": len(r.history), "dataset_dir": str(Path(run.prep.path).resolve()),
            "cache_key": run.dataset.cache_key, "source": rc.data.source, "run_config": str(rc.path),
            "result": rc.result, **rc.verdicts}


def _meta(run: FitRun, rc: RunConfig) -> dict[str, Any]:
    # the meta of THIS call's source: a cache entry built by someone else records their path
    return {**run.dataset.meta, "source": rc.data.source}


def save_fit(out: Path, run: FitRun, rc: RunConfig) -> Path:
    """Write the model directory of a fit (the best epoch's weights; the whole run for a final refit)."""
    r = run.result
    return save_model(out, r.model, r.config or run.cfg, _meta(run, rc), _extra(run, rc))


def save_members(out: Path, runs: list[FitRun], rc: RunConfig) -> Path:
    """Write the ensemble directory of ``fit_members``'s runs (in the run file's member order)."""
    members = [MemberModel(m.name, run.result.model, run.result.config or run.cfg, m.trial, m.seed,
                           {**_extra(run, rc), "member": m.name, "trial": m.trial, "seed": m.seed})
               for m, run in zip(rc.members, runs)]
    extra = {"final": True, "members": len(runs), "cache_key": runs[0].dataset.cache_key, "source": rc.data.source,
             "run_config": str(rc.path), "dataset_dir": str(Path(runs[0].prep.path).resolve()), "result": rc.result,
             **rc.verdicts}
    return save_ensemble(out, members, _meta(runs[0], rc), extra)
