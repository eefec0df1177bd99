"""The verdict's two answers as pure functions of per-date series, and their typed results.

No study, no storage: ``tuner/verdict.py`` loads the series of a study and calls these, and
``bench/verdict_null.py`` calls the very same functions on simulated no-signal series to measure
their false-positive rates (docs/selection.md, section 4).

(a) Does the winner beat the naive baselines? z = skill vs always-0.5 / its Hansen-Hodrick SE, against
    the bar the best of N no-signal trials exceeds with probability ``ALPHA`` (``selection_bar``: exact
    for equicorrelated z-scores, so the rate does not depend on rho or N), widened to a Student t with
    the SE's effective degrees of freedom (``hac_degrees_of_freedom``: the SE is itself estimated). N counts the trials
    examined; rho is the mean pairwise correlation of the trials' series, 0 (the most conservative)
    when fewer than two series align. PBO is computed and shown, but does not gate (a): it says
    whether the search's *ranking* of the configurations carries over between date blocks, which is
    about 0.5 whenever the configurations are about equally good - with skill or without. As a gate
    it vetoed a z of 4.2 against a bar of 2.6 on a planted-signal market of bench/payoff.py, and it
    bought nothing on no-signal series: bench/verdict_null.py's worst cell is 0.059 with it and
    without it (2,000 replications per cell, 2026-12-05). A PBO >= 0.5 is a reason to ship the
    ensemble rather than the single winner (tuner/export.py), not a reason to doubt its skill.
(b) Does it beat the defaults? The paired per-date difference winner - defaults of their skill
    contributions on the dates both have, with its own Hansen-Hodrick SE. The winner was the best of
    N and the defaults were not, so the "better" bar is that of the best of the N - 1 other trials'
    differences to the defaults, which are equicorrelated with rho = 1/2 whatever the trials'
    correlation (x_i - x_0 and x_j - x_0 share -x_0). "worse" needs z < -Phi^-1(1 - ALPHA).
    "Better" also needs (a): on a market with no signal the configurations still differ in how much
    they lose to always-0.5 (a large default net fits more noise than a small tuned one), so the
    paired test alone said "better" on 4 of 10 no-signal markets of bench/payoff.py. A winner that
    only loses less than the defaults is ``AHEAD_NO_SKILL``: not a winner worth shipping on its own
    (tuner/export.py ``what_to_ship`` then recommends the ensemble, or the defaults).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.selection import (
    ALPHA,
    DateSeries,
    align,
    equivalent_trials,
    hac_degrees_of_freedom,
    ic_standard_error,
    mean_correlation,
    norm_ppf,
    pbo,
    selection_bar,
    skill_contributions,
    skill_with_se,
    student_bar,
)

__all__ = ["BEATS", "NOT_DISTINGUISHABLE", "BETTER", "SAME", "WORSE", "NO_DEFAULTS", "WINNER_IS_DEFAULTS",
           "AHEAD_NO_SKILL",
           "N_BLOCKS", "VERSION", "BaselinesAnswer", "DefaultsAnswer", "Verdict", "answer_baselines",
           "answer_defaults"]

BEATS = "beats the baseline beyond selection noise"
NOT_DISTINGUISHABLE = "not distinguishable from selection noise"
BETTER = "better than the defaults"
SAME = "not distinguishable from the defaults"
WORSE = "worse than the defaults"
NO_DEFAULTS = "no defaults arm in this study"
WINNER_IS_DEFAULTS = "the winner is the defaults (tuning did not pay)"
AHEAD_NO_SKILL = "ahead of the defaults, but neither beats the naive baselines"
N_BLOCKS = 10  # date blocks of the PBO matrix (even)
DEFAULTS_RHO = 0.5  # correlation of the other trials' differences to the defaults (exchangeable trials)
VERSION = 3  # of Verdict.to_json(): 1 had one answer and the E[max] + 1 SE rule; 2 gated (a) on PBO < 0.5


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _strict(answer: Any) -> dict[str, Any]:
    """A dataclass as strict JSON: NaN and infinities become null."""
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in asdict(answer).items()}


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:+.2%}"


def _rho(a: BaselinesAnswer) -> str:
    if a.trial_correlation is None:
        return f"correlation unknown with {a.n_trials_with_series} series, 0 assumed"
    return f"correlation {a.trial_correlation:.2f} over {a.n_trials_with_series} series"


def _pbo(a: BaselinesAnswer) -> str:
    """PBO in words: a diagnostic of the search's ranking, not part of (a)'s answer."""
    if a.pbo is None:
        return "- (too few trials)"
    return f"{a.pbo:.2f}" + (" (>= 0.5: the trials' ranking does not hold across date blocks)" if a.pbo >= 0.5 else "")


def _se(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2%}"


@dataclass(frozen=True)
class BaselinesAnswer:
    """(a): does the winner beat always-0.5 by more than the best of N no-signal trials would?"""

    outcome: str  # BEATS or NOT_DISTINGUISHABLE
    skill_half: float
    skill_half_se: float
    skill_mean: float
    skill_mean_se: float
    z: float  # skill_half / skill_half_se
    bar_z: float  # what z must exceed
    alpha: float
    n_trials_examined: int
    epochs_chosen: int  # (fold, epoch) pairs each trial's series was picked from (1: a fixed epoch)
    n_trials_with_series: int
    trial_correlation: float | None  # None: fewer than two series aligned, 0 assumed
    n_effective: float  # independent trials with the same bar (Sidak)
    pbo: float | None
    pbo_blocks: int

    @property
    def beats(self) -> bool:
        return self.outcome == BEATS

    @property
    def candidates(self) -> str:
        """What the winner was the best of, in words."""
        epochs = f" x {self.epochs_chosen} fold-epochs" if self.epochs_chosen > 1 else ""
        return f"{self.n_trials_examined} trials{epochs}"

    @property
    def line(self) -> str:
        """One line (the run file's ``verdict_baselines``)."""
        return (f"{self.outcome}: skill vs always-0.5 {_pct(self.skill_half)} (SE {_se(self.skill_half_se)}), "
                f"z {self.z:+.2f} vs the bar {self.bar_z:.2f} of the best of {self.candidates} with no signal "
                f"(N_eff {self.n_effective:.1f}, alpha {self.alpha:g}); PBO {_pbo(self)}")

    def to_json(self) -> dict[str, Any]:
        return _strict(self) | {"beats": self.beats}


@dataclass(frozen=True)
class DefaultsAnswer:
    """(b): does the winner beat the study's defaults arm on the same dates (paired)?"""

    outcome: str  # BETTER, AHEAD_NO_SKILL, SAME, WORSE, NO_DEFAULTS or WINNER_IS_DEFAULTS
    defaults_trial: int | None
    defaults_from: str | None  # "confirmation runs" or "its trial"
    difference: float | None  # skill(winner) - skill(defaults) vs always-0.5 on the common dates
    difference_se: float | None
    z: float | None
    bar_z: float | None  # "better" needs z > bar_z
    worse_z: float | None  # "worse" needs z < worse_z
    n_dates: int
    n_compared: int  # trials the winner was chosen among, besides the defaults

    @property
    def better(self) -> bool:
        return self.outcome == BETTER

    def to_json(self) -> dict[str, Any]:
        return _strict(self) | {"better": self.better}

    @property
    def line(self) -> str:
        """One line (the run file's ``verdict_defaults``)."""
        if self.outcome == NO_DEFAULTS or self.z is None:
            return self.outcome if self.outcome == NO_DEFAULTS else \
                f"{self.outcome} (trial {self.defaults_trial})"
        return (f"{self.outcome}: skill difference vs the defaults (trial {self.defaults_trial}, from "
                f"{self.defaults_from}) {_pct(self.difference)} (SE {_se(self.difference_se)}) on {self.n_dates} "
                f"common dates, z {self.z:+.2f} (better > {self.bar_z:.2f}, worse < {self.worse_z:.2f})")


@dataclass(frozen=True)
class Verdict:
    """The verdict on a study's winner: (a) vs the naive baselines, (b) vs the defaults."""

    winner: int
    winner_from: str  # "confirmation runs" or "its trial"
    confirmed: bool
    n_dates: int
    baselines: BaselinesAnswer
    defaults: DefaultsAnswer
    method: str

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "winner": self.winner, "winner_from": self.winner_from,
                "confirmed": self.confirmed, "n_dates": self.n_dates, "baselines": self.baselines.to_json(),
                "defaults": self.defaults.to_json(), "method": self.method}

    def lines(self) -> list[str]:
        """The verdict in a few lines (status, export header, the study note, confirm)."""
        a, b = self.baselines, self.defaults
        out = [f"verdict on trial {self.winner} (from {self.winner_from}):",
               f"  (a) vs the naive baselines: {a.outcome.upper()}",
               f"      skill vs always-0.5 {_pct(a.skill_half)} (SE {_se(a.skill_half_se)}), vs the train mean "
               f"{_pct(a.skill_mean)} (SE {_se(a.skill_mean_se)}); z {a.z:+.2f} needs > {a.bar_z:.2f}",
               f"      the bar: the best of {a.candidates} with no signal (N_eff {a.n_effective:.1f}, alpha "
               f"{a.alpha:g}; {_rho(a)}); PBO {_pbo(a)}",
               f"  (b) vs the defaults: {b.outcome.upper()}"]
        if b.z is not None:
            out.append(f"      paired skill difference {_pct(b.difference)} (SE {_se(b.difference_se)}) on {b.n_dates} "
                       f"dates vs trial {b.defaults_trial} ({b.defaults_from}); z {b.z:+.2f} (better > {b.bar_z:.2f}, "
                       f"worse < {b.worse_z:.2f})")
        return out


def answer_baselines(winner: DateSeries, trials: Sequence[DateSeries], n_examined: int, look_ahead: int,
                     epochs_chosen: int = 1, alpha: float = ALPHA) -> BaselinesAnswer:
    """(a) from the winner's series, the series of the trials it was chosen among (for their
    correlation and PBO) and the number of trials examined (COMPLETE + PRUNED: a pruned trial was a
    candidate too).

    ``epochs_chosen``: the (fold, epoch) pairs the winner's series was picked from on these same dates
    (a trial's own series is each fold's best of E epochs: E x folds); 1 for series scored at an epoch
    fixed beforehand (confirmation runs). Each pair counts as a candidate: N x E x folds. A
    conservative heuristic, measured by bench/verdict_null.py ("epochs, trial series"): without it
    31-35 % false "beats" at rho = 0; with N x E alone 7.6 % (measured while PBO gated (a)).
    """
    skill, se = skill_with_se(winner, look_ahead, "half")
    skill_mean, se_mean = skill_with_se(winner, look_ahead, "mean")
    n = max(int(n_examined), len(trials), 1)
    epochs_chosen = max(int(epochs_chosen), 1)
    aligned = align(list(trials))
    dates = aligned[0].date.size if aligned else 0
    rho = None
    if len(aligned) >= 2 and dates:
        rho = mean_correlation(np.column_stack([skill_contributions(s) for s in aligned]))
    normal_bar = selection_bar(n * epochs_chosen, rho if rho is not None else 0.0, alpha)
    lag = max(0, int(look_ahead) - 1)
    bar = student_bar(normal_bar, hac_degrees_of_freedom(int(np.isfinite(skill_contributions(winner)).sum()), lag))
    pbo_value, blocks = None, 0
    if len(aligned) >= 4 and dates >= 2 * N_BLOCKS:
        blocks = N_BLOCKS
        idx = aligned[0].blocks(blocks)
        perf = np.array([[-s.err[b].sum() / s.n[b].sum() for s in aligned] for b in idx])
        pbo_value, _ = pbo(perf)
    z = skill / se if math.isfinite(se) and se > 0 and math.isfinite(skill) else float("nan")
    beats = bool(skill > 0 and math.isfinite(z) and z > bar)
    return BaselinesAnswer(BEATS if beats else NOT_DISTINGUISHABLE, skill, se, skill_mean, se_mean, z, bar, alpha,
                           n, epochs_chosen, len(trials), rho, equivalent_trials(normal_bar, alpha), pbo_value, blocks)


def answer_defaults(winner: DateSeries, defaults: DateSeries | None, n_examined: int, look_ahead: int, *,
                    winner_is_defaults: bool = False, defaults_trial: int | None = None,
                    defaults_from: str | None = None, winner_beats: bool,
                    alpha: float = ALPHA) -> DefaultsAnswer:
    """(b) from the winner's and the defaults' series (None: the study has no defaults arm);
    ``winner_beats``: (a)'s answer, which "better" needs (else ``AHEAD_NO_SKILL``)."""
    n_compared = max(int(n_examined) - 1, 1)
    if defaults is None:
        return DefaultsAnswer(NO_DEFAULTS, defaults_trial, None, None, None, None, None, None, 0, n_compared)
    if winner_is_defaults:
        return DefaultsAnswer(WINNER_IS_DEFAULTS, defaults_trial, defaults_from, 0.0, None, None, None, None,
                              int(defaults.date.size), n_compared)
    w, d = align([winner, defaults])
    base = w.base_half  # the same targets on the same dates: one scale for both
    scale = base.mean() if base.size else float("nan")
    diff = (d.err - w.err) / scale if base.size and scale > 0 else np.zeros(0)
    lag = max(0, int(look_ahead) - 1)
    df = hac_degrees_of_freedom(diff.size, lag)
    bar = student_bar(selection_bar(n_compared, DEFAULTS_RHO, alpha), df)
    worse = -student_bar(norm_ppf(1.0 - alpha), df)
    if diff.size < 2:
        return DefaultsAnswer(SAME, defaults_trial, defaults_from, None, None, None, bar, worse, int(diff.size),
                              n_compared)
    mean = float(diff.mean())
    se = ic_standard_error(diff, lag=lag)
    z = mean / se if math.isfinite(se) and se > 0 else 0.0
    outcome = (BETTER if winner_beats else AHEAD_NO_SKILL) if z > bar else WORSE if z < worse else SAME
    return DefaultsAnswer(outcome, defaults_trial, defaults_from, mean, se, z, bar, worse, int(diff.size), n_compared)
