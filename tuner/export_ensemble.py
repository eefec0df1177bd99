"""`stocktune export --ensemble`: the confirmed top-k configurations x their confirmation seeds as one
ensemble run file, which `stocktune fit --final` trains into one model directory.

Confirmation already retrained each front-runner with fresh seeds (SEED_BASE, SEED_BASE + 1, ...);
the ensemble refits exactly those (configuration, seed) pairs on train + validation, each for the
epochs the study's ``refit_epochs`` rule gives its trial, and `evaluate`/`predict` average their probabilities. Averaging the confirmed
runs instead of shipping one of them removes the luck of one initialisation from the shipped model,
not only from the ranking. Only a confirmed study has these members, so an unconfirmed one is an
InputError saying how to confirm it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from common.errors import InputError
from model.run_file import VERDICT_KEYS, write_toml_atomic

from .confirm import SEED_BASE, ConfirmedRow, confirmed_ranking
from .export import export_targets, run_document
from .retry import with_retries
from .study import load_existing_study
from .study_config import StudyConfig
from .verdict import format_verdict, study_verdict

__all__ = ["ensemble_document", "export_ensemble"]


def ensemble_document(cfg: StudyConfig, trials: Mapping[int, Any], rows: list[ConfirmedRow], top_k: int | None = None,
                      verdict: Any = None) -> dict[str, Any]:
    """The run file of an ensemble: [data], [result] (the study, the members' trials, the verdict
    lines of the winner's run file) and one [[members]] table per (confirmed configuration,
    confirmation seed), best configuration first. ``rows`` is the confirmed ranking (non-empty)."""
    if top_k is not None and top_k < 1:
        raise InputError(f"--top-k must be >= 1, but got --top-k {top_k}.")
    rows = rows[:top_k] if top_k is not None else rows
    missing = [r.trial for r in rows if r.trial not in trials]
    if missing:
        raise InputError(f"the confirmed ranking of study {cfg.name!r} names trial {missing[0]}, which the study no "
                         f"longer has; run `stocktune confirm {cfg.path}` again.")
    docs = [run_document(cfg, trials[row.trial], rank, None, verdict) for rank, row in enumerate(rows, 1)]
    members, ranks, head = [], [], docs[0]
    for row, doc in zip(rows, docs):
        number = row.trial
        ranks.append(number)
        # the epochs its confirmation runs trained (fixed before they saw validation), else what the study's
        # refit_epochs rule gives its refit
        epochs = row.epochs if row.epochs is not None else doc["result"].get("refit_epochs")
        for j in range(row.n):
            seed = SEED_BASE + j
            member = {"name": f"trial{number}-seed{seed}", "trial": number, "seed": seed,
                      "train": {**doc["train"], "seed": seed}}
            if isinstance(epochs, int) and epochs >= 1:
                member["epochs"] = epochs
            members.append(member)
    r = head["result"]
    result = {"study": r["study"], "storage": r["storage"], "metric": r["metric"], "direction": r["direction"],
              "ranked_by": "confirmation", "ensemble_trials": ranks, "n_members": len(members),
              "combine": "mean of the members' rise probabilities",
              "dataset_cache_key": r.get("dataset_cache_key"), "stocktune_version": r.get("stocktune_version"),
              "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              **{k: r[k] for k in VERDICT_KEYS if isinstance(r.get(k), str)}}
    return {"data": head["data"], "result": result, "members": members}


def export_ensemble(cfg: StudyConfig, out: str | Path, top_k: int | None = None,
                    on_replace: Callable[[Path], None] | None = None) -> Path:
    """Write the ensemble run file of ``cfg``'s confirmed ranking (its ``top_k`` best configurations,
    default all) to ``out``; InputError when the study was never confirmed."""
    [target] = export_targets(out, 1)
    study = load_existing_study(cfg)
    rows = confirmed_ranking(study)
    if not rows:
        raise InputError(f"study {cfg.name!r} has no confirmed ranking, and an ensemble is made of the confirmation "
                         f"runs' configurations and seeds: run `stocktune confirm {cfg.path}` first (or export one "
                         "model without --ensemble).")
    trials = {t.number: t for t in with_retries(lambda: study.get_trials(deepcopy=False), "reading trials")}
    verdict = study_verdict(cfg, study)
    doc = ensemble_document(cfg, trials, rows, top_k, verdict)
    if target.exists() and on_replace is not None:
        on_replace(target)
    lines = [f"stocktune export --ensemble of study {cfg.name!r}: {doc['result']['n_members']} members, the confirmed "
             f"configurations {doc['result']['ensemble_trials']} x their confirmation seeds",
             *format_verdict(verdict).splitlines()]
    return write_toml_atomic(doc, target, "\n".join(lines))
