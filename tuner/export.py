"""The best trial(s) as self-contained run files that `stocktune fit --config` accepts unchanged.

[data] is the study's data table, [train] the study's fixed [train] merged with the trial's
params (and fixed [search] values), with device = "auto" so the file runs on whatever machine
fits it; [result] records where the config came from and how it scored, and the verdict's two answers
as one-line strings (``verdict_baselines``, ``verdict_defaults``; ``verdict_of_trial`` is the winner they
are about). ``defaults`` exports the study's defaults arm instead of the winner. ``top_k`` > 1 writes one
file per rank: best.toml -> best_1.toml ... best_K.toml. An existing file is replaced (the CLI says
so on stderr); an --out that is a directory is an InputError before anything is read.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from common.errors import InputError
from model.config import TrainConfig
from model.metric_names import VALIDATION_METRICS
from model.run_file import write_toml_atomic

from .confirm import ConfirmedRow, confirmed_ranking
from .defaults_arm import DEFAULTS_ATTR, defaults_number
from .retry import with_retries
from .space import Fixed
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import count_words, ranked, state_counts
from .verdict import AHEAD_NO_SKILL, BETTER, NO_DEFAULTS, WINNER_IS_DEFAULTS, Verdict, format_verdict, study_verdict

__all__ = ["export_best", "export_targets", "run_document", "Export", "verdict_warnings", "what_to_ship",
           "SHIP_WINNER", "SHIP_ENSEMBLE", "SHIP_DEFAULTS"]

SHIP_WINNER = "winner"
SHIP_ENSEMBLE = "ensemble"
SHIP_DEFAULTS = "defaults"


@dataclass(frozen=True)
class Export:
    """What `export` wrote, and on what grounds."""

    paths: list[Path]
    confirmed: bool  # ranked by the confirmation runs (else by the trials' own values)
    verdict: Verdict | None
    defaults: bool  # the file is the defaults arm's configuration (``export_best(defaults=True)``)


def run_document(cfg: StudyConfig, trial: optuna.trial.FrozenTrial, rank: int = 1,
                 confirmation: ConfirmedRow | None = None, verdict: Verdict | None = None) -> dict[str, Any]:
    fixed = {k: v.value for k, v in cfg.search.items() if isinstance(v, Fixed)}
    train = {**cfg.train, **fixed, **trial.params, "device": "auto"}
    train = TrainConfig.from_mapping(train, f"trial {trial.number} of {cfg.name}").to_mapping()
    train = {k: (list(v) if isinstance(v, tuple) else v) for k, v in train.items()}
    ua = trial.user_attrs
    result = {
        "study": cfg.name, "storage": cfg.storage_masked, "trial": trial.number, "rank": rank,
        "metric": cfg.metric, "direction": cfg.direction,
        "value": float(trial.value) if trial.value is not None else None,
        "best_epoch": ua.get("best_epoch"), "epochs_run": ua.get("epochs_run"),
        "refit_epochs": cfg.refit_epochs_for(trial.params, ua.get("best_epoch")),
        "metrics": {k: ua[k] for k in VALIDATION_METRICS if ua.get(k) is not None},
        "dataset_cache_key": ua.get("dataset_cache_key"),
        "stocktune_version": ua.get("stocktune_version"),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if confirmation:
        result.update(ranked_by="confirmation", confirmed_mean=confirmation.mean, confirmed_se=confirmation.se,
                      confirmed_runs=list(confirmation.values))
    if verdict is not None and rank == 1:
        a = verdict.baselines
        result.update(verdict_of_trial=verdict.winner, verdict_baselines=a.line, verdict_defaults=verdict.defaults.line,
                      skill_half=_finite(a.skill_half), skill_half_se=_finite(a.skill_half_se), pbo=a.pbo)
    if ua.get(DEFAULTS_ATTR) is True:
        result["defaults"] = True  # the configuration a user has without tuning
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


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def export_best(cfg: StudyConfig, out: str | Path, top_k: int = 1,
                on_replace: Callable[[Path], None] | None = None, defaults: bool = False) -> Export:
    """Write the best ``top_k`` COMPLETE trials (by the confirmed ranking when the study has one, then
    by value), or with ``defaults`` the study's defaults arm (what to ship when the search did not beat
    it); the verdict on the winner heads each file as comments. An existing file is replaced
    (atomically); ``on_replace(path)`` is called for each before writing."""
    if defaults and top_k != 1:
        raise InputError(f"--defaults writes the one defaults configuration; drop --top-k {top_k}.")
    targets = export_targets(out, top_k)
    study = load_existing_study(cfg)
    trials = with_retries(lambda: study.get_trials(deepcopy=False), "reading trials")
    top = ranked(trials, cfg.direction)
    if defaults:
        number = defaults_number(trials)
        if number is None:
            raise InputError(f"study {cfg.name!r} has no defaults arm (no trial with user attr {DEFAULTS_ATTR!r}); "
                             f"export its winner without --defaults, or run the study again to get one.")
        top = [t for t in trials if t.number == number]
    if not top:
        raise InputError(f"study {cfg.name!r} has no COMPLETE trial yet ({cfg.storage_masked}); "
                         f"check `stocktune status {cfg.path}`.")
    confirmed = {r.trial: r for r in confirmed_ranking(study) or []}
    order = {n: i for i, n in enumerate(confirmed)}  # confirmed first, in their confirmed order
    if not defaults:
        top.sort(key=lambda t: (0, order[t.number]) if t.number in order else (1, 0))
    verdict = study_verdict(cfg, study)
    what = (f"the defaults arm (trial {top[0].number}), not the search's winner" if defaults else "ranked by "
            + ("the confirmation runs (fresh seeds)" if confirmed else "the trials' validation values"))
    header = "\n".join([f"stocktune export of study {cfg.name!r}: {what}", f"trials: {count_words(state_counts(trials))}",
                        *format_verdict(verdict).splitlines()])
    docs = [run_document(cfg, t, i + 1, confirmed.get(t.number), verdict)  # validate all before writing
            for i, t in enumerate(top[:top_k])]
    written = []
    for doc, target in zip(docs, targets):
        if target.exists() and on_replace is not None:
            on_replace(target)
        written.append(write_toml_atomic(doc, target, header))
    return Export(written, bool(confirmed), verdict, defaults)


def what_to_ship(v: Verdict | None) -> str:
    """The product's recommendation, one policy for `export`'s warning and `bench/payoff.py`'s
    ``recommended`` arm: the winner when question (b) says it is better than the defaults; else, for a
    confirmed study, the ensemble of the confirmed configurations x their seeds (`export --ensemble`);
    else the defaults. A study without a defaults arm or a verdict has nothing to compare with: the
    winner.

    Why the ensemble when the winner is not shown better: averaging never does worse in absolute error
    than the average member (the error is convex), it holds the defaults and the search's front-runners
    at once, and on bench/payoff.py's full budget it was the one arm ahead of the defaults beyond two
    standard errors on test skill, on planted and no-signal markets alike, and ahead on test IC (+0.011
    ± 0.007) where the single winner was not (bench/README.md, "Does tuning pay")."""
    if v is None or v.defaults.outcome in (BETTER, NO_DEFAULTS):
        return SHIP_WINNER
    return SHIP_ENSEMBLE if v.confirmed else SHIP_DEFAULTS


def verdict_warnings(v: Verdict | None, study: str, exported_defaults: bool) -> list[str]:
    """What the verdict says against shipping the exported file, and what to ship instead
    (``what_to_ship``)."""
    if v is None:
        return []
    a, b = v.baselines, v.defaults
    out = []
    if not a.beats:
        out.append(f"the winner (trial {v.winner}) is {a.outcome}: its validation skill vs always-0.5 is "
                   f"{a.skill_half:+.2%} (SE {a.skill_half_se:.2%}), z {a.z:+.2f} below the bar {a.bar_z:.2f} of the "
                   f"best of {a.candidates} with no signal. Evaluate it on the test period before trusting "
                   "it (`stocktune evaluate`).")
    ship = what_to_ship(v)
    ensemble = (f"ship the ensemble of the confirmed configurations x their seeds, written by `stocktune export "
                f"{study} --ensemble` (the defaults and the front-runners averaged; docs/selection.md, 'What the "
                "product recommends').")
    if exported_defaults:
        if ship == SHIP_ENSEMBLE:
            out.append(f"verdict (b) says {b.outcome!r}; rather than the defaults alone, {ensemble}")
        return out
    if b.outcome == NO_DEFAULTS:
        out.append("this study has no defaults arm, so nothing says the winner is better than not tuning; "
                   "evaluate the untuned configuration on the test period too.")
    elif ship == SHIP_WINNER:
        return out
    elif ship == SHIP_ENSEMBLE:
        out.append(f"verdict (b) on the winner (trial {v.winner}) vs the defaults (trial {b.defaults_trial}) says "
                   f"{b.outcome!r}, so this file is not what to ship: {ensemble}")
    elif b.outcome == AHEAD_NO_SKILL:
        out.append(f"the winner (trial {v.winner}) is ahead of the defaults (trial {b.defaults_trial}) only in losing "
                   "less to always-0.5: neither beats the naive baselines, so the search found no model worth "
                   f"shipping over the defaults; if you ship one, ship the defaults (`stocktune export {study} "
                   "--defaults`).")
    elif b.outcome == WINNER_IS_DEFAULTS:
        out.append(f"the search's winner is its defaults arm (trial {v.winner}): tuning did not pay; the file holds "
                   "the default configuration: ship it.")
    else:
        out.append(f"the winner (trial {v.winner}) is {b.outcome} (trial {b.defaults_trial}): ship the defaults' "
                   f"configuration, written by `stocktune export {study} --defaults`.")
    return out
