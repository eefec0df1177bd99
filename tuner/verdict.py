"""The verdict on a study's winner: does it beat always-0.5 by more than the luckiest of N trials would?

For the winner (the confirmed best when the study was confirmed, else the best trial) on its
validation folds:

1. skill vs always-0.5 and vs the train mean, each with a standard error that counts the overlap of
   look_ahead-day targets (model.selection, the same estimator as the test evaluation);
2. the skill the best of N trials reaches with NO signal: E[max of N_eff standard normals] x the
   skill's standard error (deflation, Bailey & Lopez de Prado 2014), N the trials examined (COMPLETE
   and PRUNED), N_eff = rho + (1 - rho) N with rho the COMPLETE trials' mean pairwise correlation of
   their per-date skill series;
3. the probability of backtest overfitting (CSCV over the COMPLETE trials x ``N_BLOCKS`` date blocks
   of validation MAE).

"beats the baseline beyond selection noise" needs all of: skill > 0, (skill - luck) / SE > ``MARGIN_Z``
and PBO < 0.5 (when there are enough trials for it); anything else is "not distinguishable from
selection noise".
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from model.selection import DateSeries, effective_trials, expected_max_normal, pbo, skill_contributions, skill_with_se

from .confirm import CONFIRM_OF_ATTR, confirm_study_config, confirmed_ranking
from .objective import series_path
from .study_config import StudyConfig
from .trials import ranked

__all__ = ["study_verdict", "format_verdict", "BEATS", "NOT_DISTINGUISHABLE", "MARGIN_Z", "N_BLOCKS"]

log = logging.getLogger("stocktune.verdict")

BEATS = "beats the baseline beyond selection noise"
NOT_DISTINGUISHABLE = "not distinguishable from selection noise"
MARGIN_Z = 1.0  # standard errors the skill must clear above the luckiest-of-N skill
N_BLOCKS = 10  # date blocks of the PBO matrix (even)


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


def study_verdict(cfg: StudyConfig, study: optuna.Study) -> dict[str, Any] | None:
    """The verdict on ``study``'s winner (JSON-friendly), or None when no COMPLETE trial has a series."""
    trials = study.get_trials(deepcopy=False)
    complete = ranked(trials, cfg.direction)
    series = {t.number: s for t in complete if (s := _load(series_path(cfg, t.number))) is not None}
    if not series:
        return None
    confirmed = confirmed_ranking(study)
    winner = confirmed[0].trial if confirmed else complete[0].number
    source = "confirmation runs"
    win = None
    if confirmed:
        ccfg = confirm_study_config(cfg, 1, 1)
        try:
            runs = optuna.load_study(study_name=ccfg.name, storage=cfg.storage).get_trials(deepcopy=False)
        except KeyError:
            runs = []
        parts = [s for r in runs if r.state == TrialState.COMPLETE and r.user_attrs.get(CONFIRM_OF_ATTR) == winner
                 and (s := _load(series_path(ccfg, r.number))) is not None]
        win = _mean_series(parts) if parts else None
    if win is None:
        win, source = series.get(winner), "its trial"
    if win is None:
        return None
    look_ahead = cfg.data.prep.look_ahead
    skill, se = skill_with_se(win, look_ahead, "half")
    skill_mean, se_mean = skill_with_se(win, look_ahead, "mean")
    n_examined = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)

    numbers = sorted(series)
    common = series[numbers[0]].date
    for n in numbers[1:]:
        common = np.intersect1d(common, series[n].date)
    aligned = {n: DateSeries.from_npz({k: v[np.isin(series[n].date, common)] for k, v in series[n].to_npz().items()})
               for n in numbers}
    x = np.column_stack([skill_contributions(aligned[n]) for n in numbers]) if common.size else np.zeros((0, 1))
    _, rho = effective_trials(x) if len(numbers) > 1 else (1.0, 1.0)
    n_eff = rho + (1 - rho) * max(n_examined, 1)
    luck = se * expected_max_normal(n_eff) if math.isfinite(se) else float("nan")

    pbo_value, blocks = None, 0
    if len(numbers) >= 4 and common.size >= 2 * N_BLOCKS:
        blocks = N_BLOCKS
        idx = aligned[numbers[0]].blocks(blocks)
        perf = np.array([[-aligned[n].err[b].sum() / aligned[n].n[b].sum() for n in numbers] for b in idx])
        pbo_value, _ = pbo(perf)
    z = (skill - luck) / se if se and math.isfinite(se) and se > 0 and math.isfinite(luck) else float("nan")
    beats = bool(skill > 0 and math.isfinite(z) and z > MARGIN_Z and (pbo_value is None or pbo_value < 0.5))
    return {
        "winner": int(winner), "winner_from": source, "confirmed": bool(confirmed),
        "skill_half": skill, "skill_half_se": se, "skill_mean": skill_mean, "skill_mean_se": se_mean,
        "n_dates": int(win.date.size), "n_trials_examined": int(n_examined), "n_trials_with_series": len(numbers),
        "trial_correlation": rho, "n_effective": n_eff, "luck_skill": luck, "z_beyond_luck": z,
        "margin_z": MARGIN_Z, "pbo": pbo_value, "pbo_blocks": blocks,
        "verdict": BEATS if beats else NOT_DISTINGUISHABLE, "beats": beats,
        "method": ("skill = 1 - MAE/MAE(always 0.5) on the validation folds, SE Hansen-Hodrick with "
                   f"{max(0, look_ahead - 1)} lags; luck = SE x E[max of N_eff normals] (deflation); "
                   f"PBO by CSCV over {blocks or '-'} date blocks"),
    }


def format_verdict(v: dict[str, Any] | None) -> str:
    """The verdict in a few lines (status, export, the dashboard note)."""
    if v is None:
        return "verdict: none yet (no COMPLETE trial with validation series)"

    def pct(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:+.2%}"

    def se(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.2%}"

    pbo_text = f"{v['pbo']:.2f}" if v.get("pbo") is not None else "- (too few trials)"
    return "\n".join([
        f"verdict: trial {v['winner']} {v['verdict'].upper()}",
        f"  skill vs always-0.5: {pct(v['skill_half'])} (SE {se(v['skill_half_se'])}), vs the train mean: "
        f"{pct(v['skill_mean'])} (SE {se(v['skill_mean_se'])}), from {v['winner_from']}",
        f"  best of {v['n_trials_examined']} trials with no signal (N_eff {v['n_effective']:.1f}): {pct(v['luck_skill'])}; "
        f"beyond it: {v['z_beyond_luck']:+.2f} SE (needs > {v['margin_z']:g}); PBO {pbo_text}",
    ])
