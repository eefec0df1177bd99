"""The verdict on a study's winner, from the per-date validation series the study saved.

Two questions (the statistics, pure functions of the series, are in ``tuner/verdict_stats.py``):
(a) does the winner (the confirmed best when the study was confirmed, else the best trial) beat the
naive baselines by more than the best of N no-signal trials would, and (b) does it beat the study's
defaults arm (``tuner/defaults_arm.py``) on the same dates? This module finds the series: the
winner's and the defaults' confirmation runs (averaged over seeds) when there are any, else their
trials' own series; the COMPLETE trials' series for the correlation and PBO; the trials examined
(COMPLETE + PRUNED) for N.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from model.selection import DateSeries

from .confirm import CONFIRM_OF_ATTR, confirm_study_config, confirmed_ranking
from .defaults_arm import defaults_number
from .objective import series_path
from .optuna_adapter import storage_of
from .study_config import StudyConfig
from .trials import ranked
from .verdict_stats import (
    AHEAD_NO_SKILL,
    BEATS,
    BETTER,
    NO_DEFAULTS,
    NOT_DISTINGUISHABLE,
    SAME,
    WINNER_IS_DEFAULTS,
    WORSE,
    Verdict,
    answer_baselines,
    answer_defaults,
)

__all__ = ["study_verdict", "format_verdict", "Verdict", "BEATS", "NOT_DISTINGUISHABLE", "BETTER", "SAME", "WORSE",
           "NO_DEFAULTS", "WINNER_IS_DEFAULTS", "AHEAD_NO_SKILL"]

log = logging.getLogger("stocktune.verdict")


def _load(path: Path) -> DateSeries | None:
    try:
        with np.load(path) as data:
            return DateSeries.from_npz(dict(data))
    except (OSError, ValueError, KeyError):
        return None


def _mean_series(parts: list[DateSeries]) -> DateSeries:
    """Several runs of one configuration on the same dates, as one (their errors averaged)."""
    if len(parts) == 1:
        return parts[0]
    common = parts[0].date
    for p in parts[1:]:
        common = np.intersect1d(common, p.date)
    picked = [{k: v[np.isin(p.date, common)] for k, v in p.to_npz().items()} for p in parts]
    return DateSeries.from_npz({"date": common, **{k: np.mean([q[k] for q in picked], axis=0)
                                                   for k in ("n", "err", "base_half", "base_mean", "ic")}})


def _confirmation_series(cfg: StudyConfig, study: optuna.Study) -> dict[int, DateSeries]:
    """The confirmation runs' series averaged per retrained trial number (empty when not confirmed)."""
    ccfg = confirm_study_config(cfg, 1, 1)
    try:
        runs = optuna.load_study(study_name=ccfg.name, storage=storage_of(study)).get_trials(deepcopy=False)
    except KeyError:
        return {}
    parts: dict[int, list[DateSeries]] = {}
    for r in runs:
        if r.state == TrialState.COMPLETE and CONFIRM_OF_ATTR in r.user_attrs:
            if (s := _load(series_path(ccfg, r.number))) is not None:
                parts.setdefault(int(r.user_attrs[CONFIRM_OF_ATTR]), []).append(s)
    return {n: _mean_series(p) for n, p in parts.items()}


def study_verdict(cfg: StudyConfig, study: optuna.Study) -> Verdict | None:
    """The verdict on ``study``'s winner, or None when the winner has no validation series."""
    trials = study.get_trials(deepcopy=False)
    complete = ranked(trials, cfg.direction)
    series = {t.number: s for t in complete if (s := _load(series_path(cfg, t.number))) is not None}
    confirmed = confirmed_ranking(study)
    if not complete and not confirmed:
        return None
    winner = int(confirmed[0].trial) if confirmed else complete[0].number
    runs = _confirmation_series(cfg, study) if confirmed else {}
    win, source = (runs[winner], "confirmation runs") if winner in runs else (series.get(winner), "its trial")
    if win is None:
        return None
    look_ahead = cfg.data.prep.look_ahead
    n_examined = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # a trial's own series is each fold's best epoch, chosen on these dates; confirmation runs are
    # scored at the epoch the refit trains, fixed before their validation is looked at
    mine = next((t for t in trials if t.number == winner), None)
    folds = len((mine.user_attrs.get("fold_best_epochs") if mine else None) or [None])
    epochs_chosen = 1 if source == "confirmation runs" else cfg.steps_per_fold * folds
    baselines = answer_baselines(win, [series[n] for n in sorted(series)], n_examined, look_ahead, epochs_chosen)

    d_number = defaults_number(trials)
    d_series, d_source = None, None
    if d_number is not None:
        d_series, d_source = (runs[d_number], "confirmation runs") if d_number in runs else \
            (series.get(d_number), "its trial")
    defaults = answer_defaults(win, d_series, n_examined, look_ahead, winner_is_defaults=winner == d_number,
                               defaults_trial=d_number, defaults_from=d_source, winner_beats=baselines.beats)
    lag = max(0, look_ahead - 1)
    method = ("skill = 1 - MAE/MAE(always 0.5) on the validation folds, SE Hansen-Hodrick with "
              f"{lag} lags; (a) z = skill/SE must exceed the bar the best of N no-signal trials with their "
              f"correlation exceeds with probability {baselines.alpha:g}; PBO (CSCV over "
              f"{baselines.pbo_blocks or '-'} date blocks) is shown, not required; (b) paired per-date skill difference to the "
              f"defaults, SE Hansen-Hodrick with {lag} lags, 'better' beyond the best of N - 1 differences and "
              "only when (a) says beats")
    return Verdict(winner, source, bool(confirmed), int(win.date.size), baselines, defaults, method)


def format_verdict(v: Verdict | None) -> str:
    """The verdict in a few lines (status, export, the dashboard note, confirm)."""
    if v is None:
        return "verdict: none yet (no COMPLETE trial with validation series)"
    return "\n".join(v.lines())
