"""The best trial(s) as self-contained run files that `stocktune fit --config` accepts unchanged.

[data] is the study's data table, [train] the study's fixed [train] merged with the trial's
params (and fixed [search] values), with device = "auto" so the file runs on whatever machine
fits it; [result] records where the config came from and how it scored. ``top_k`` > 1 writes one
file per rank: best.toml -> best_1.toml ... best_K.toml.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from common.errors import InputError
from model.config import TrainConfig
from model.metric_names import VALIDATION_METRICS
from model.run_file import write_toml_atomic

from .confirm import confirmed_ranking
from .retry import with_retries
from .space import Fixed
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import ranked
from .verdict import format_verdict, study_verdict

__all__ = ["export_best", "run_document", "Export"]


@dataclass(frozen=True)
class Export:
    """What `export` wrote, and on what grounds."""

    paths: list[Path]
    confirmed: bool  # ranked by the confirmation runs (else by the trials' own values)
    verdict: dict[str, Any] | None


def run_document(cfg: StudyConfig, trial: optuna.trial.FrozenTrial, rank: int = 1,
                 confirmation: dict[str, Any] | None = None, verdict: dict[str, Any] | None = None) -> dict[str, Any]:
    fixed = {k: v.value for k, v in cfg.search.items() if isinstance(v, Fixed)}
    train = {**cfg.train, **fixed, **trial.params, "device": "auto"}
    train = TrainConfig.from_mapping(train, f"trial {trial.number} of {cfg.name}").to_mapping()
    train = {k: (list(v) if isinstance(v, tuple) else v) for k, v in train.items()}
    ua = trial.user_attrs
    result = {
        "study": cfg.name, "storage": cfg.storage_masked, "trial": trial.number, "rank": rank,
        "metric": cfg.metric, "direction": cfg.direction, "value": float(trial.value),
        "best_epoch": ua.get("best_epoch"), "epochs_run": ua.get("epochs_run"),
        "metrics": {k: ua[k] for k in VALIDATION_METRICS if ua.get(k) is not None},
        "dataset_cache_key": ua.get("dataset_cache_key"),
        "stocktune_version": ua.get("stocktune_version"),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if confirmation:
        result.update(ranked_by="confirmation", confirmed_mean=confirmation["mean"], confirmed_se=confirmation["se"],
                      confirmed_runs=confirmation["values"])
    if verdict and rank == 1 and verdict["winner"] == trial.number:
        result.update(verdict=verdict["verdict"], skill_half=verdict["skill_half"],
                      skill_half_se=verdict["skill_half_se"], luck_skill=verdict["luck_skill"], pbo=verdict["pbo"])
    return {"data": cfg.data.to_mapping(), "train": train, "result": result}


def export_best(cfg: StudyConfig, out: str | Path, top_k: int = 1) -> Export:
    """Write the best ``top_k`` COMPLETE trials (by the confirmed ranking when the study has one, then
    by value); the verdict on the winner heads each file as comments."""
    if top_k < 1:
        raise InputError(f"--top-k must be >= 1, but got --top-k {top_k}.")
    study = load_existing_study(cfg)
    top = ranked(with_retries(lambda: study.get_trials(deepcopy=False), "reading trials"), cfg.direction)
    if not top:
        raise InputError(f"study {cfg.name!r} has no COMPLETE trial yet ({cfg.storage_masked}); "
                         f"check `stocktune status {cfg.path}`.")
    confirmed = {r["trial"]: r for r in confirmed_ranking(study) or []}
    order = {n: i for i, n in enumerate(confirmed)}  # confirmed first, in their confirmed order
    top.sort(key=lambda t: (0, order[t.number]) if t.number in order else (1, 0))
    verdict = study_verdict(cfg, study)
    header = "\n".join([f"stocktune export of study {cfg.name!r}: ranked by "
                        + ("the confirmation runs (fresh seeds)" if confirmed else "the trials' validation values"),
                        *format_verdict(verdict).splitlines()])
    out = Path(out)
    docs = [run_document(cfg, t, i + 1, confirmed.get(t.number), verdict)  # validate all before writing
            for i, t in enumerate(top[:top_k])]
    if top_k == 1:
        return Export([write_toml_atomic(docs[0], out, header)], bool(confirmed), verdict)
    return Export([write_toml_atomic(d, out.with_name(f"{out.stem}_{i + 1}{out.suffix or '.toml'}"), header)
                   for i, d in enumerate(docs)], bool(confirmed), verdict)
