"""The best trial(s) as self-contained run files that `stocktune fit --config` accepts unchanged.

[data] is the study's data table, [train] the study's fixed [train] merged with the trial's
params (and fixed [search] values), with device = "auto" so the file runs on whatever machine
fits it; [result] records where the config came from and how it scored. ``top_k`` > 1 writes one
file per rank: best.toml -> best_1.toml ... best_K.toml. An existing file is replaced (the CLI says
so on stderr); an --out that is a directory is an InputError before anything is read.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from common.errors import InputError
from model.config import TrainConfig
from model.metrics import VALIDATION_METRICS
from model.run_file import write_toml_atomic

from .retry import with_retries
from .space import Fixed
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import ranked

__all__ = ["export_best", "export_targets", "run_document"]


def run_document(cfg: StudyConfig, trial: optuna.trial.FrozenTrial, rank: int = 1) -> dict[str, Any]:
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
    return {"data": cfg.data.to_mapping(), "train": train, "result": result}


def export_targets(out: str | Path, top_k: int = 1) -> list[Path]:
    """The files ``export_best`` writes (``out``, or one per rank), checked before anything is read:
    InputError when one is a directory or cannot be created because its parent is a file."""
    if top_k < 1:
        raise InputError(f"--top-k must be >= 1, but got --top-k {top_k}.")
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out} is a directory; give the path of a run file, e.g. --out {out / 'best.toml'}.")
    targets = [out] if top_k == 1 else [out.with_name(f"{out.stem}_{i + 1}{out.suffix or '.toml'}")
                                        for i in range(top_k)]
    for t in targets:
        if t.is_dir():
            raise InputError(f"--out {out} would write {t}, which is a directory; choose another --out.")
        parent = t.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise InputError(f"--out {out} cannot be created: {parent} is a file, not a directory.")
    return targets


def export_best(cfg: StudyConfig, out: str | Path, top_k: int = 1,
                on_replace: Callable[[Path], None] | None = None) -> list[Path]:
    """Write the best ``top_k`` COMPLETE trials; returns the files written (best first).

    An existing file is replaced (atomically); ``on_replace(path)`` is called for each before writing.
    """
    targets = export_targets(out, top_k)
    study = load_existing_study(cfg)
    top = ranked(with_retries(lambda: study.get_trials(deepcopy=False), "reading trials"), cfg.direction)
    if not top:
        raise InputError(f"study {cfg.name!r} has no COMPLETE trial yet ({cfg.storage_masked}); "
                         f"check `stocktune status {cfg.path}`.")
    docs = [run_document(cfg, t, rank=i + 1) for i, t in enumerate(top[:top_k])]  # validate all first
    written = []
    for doc, target in zip(docs, targets):
        if target.exists() and on_replace is not None:
            on_replace(target)
        written.append(write_toml_atomic(doc, target))
    return written
