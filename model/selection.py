"""Statistics for trusting a study's winner: per-date error series, skill with an overlap-aware
standard error, the probability of backtest overfitting, and the bar the best of N no-signal trials
clears.

- Skill vs a baseline is 1 - MAE/MAE_baseline. Written as the mean over dates of
  x_t = (B_t - E_t) / mean(B) (B_t, E_t: the baseline's and the model's absolute errors summed on
  date t), its standard error is that of a mean of an MA(look_ahead - 1) series: the truncated-kernel
  (Hansen-Hodrick) estimator ``ic_standard_error``, which the test evaluation uses for the IC too.
- PBO: combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado & Zhu, 2017) over
  the trials x time-blocks matrix of validation performance.
- The best of N: ``selection_bar`` is the z that the maximum of N equicorrelated standard normals
  exceeds with probability alpha (exact, by a one-dimensional integral), so a verdict that asks for
  z above it is wrong alpha of the time on a no-signal market whatever N and the trials' correlation
  are. It replaces the deflation by E[max of N_eff normals] (Bailey & Lopez de Prado, 2014), whose
  false-positive rate drifted with the correlation (docs/selection.md).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .metrics import per_date_ic

__all__ = ["ic_standard_error", "DateSeries", "date_series", "concat", "skill_contributions", "skill_with_se", "pbo",
           "norm_cdf", "norm_ppf", "max_normal_cdf", "selection_bar", "hac_degrees_of_freedom", "student_bar",
           "equivalent_trials", "mean_correlation", "align",
           "ALPHA"]


@dataclass(frozen=True)
class DateSeries:
    """Per-date sums of one model's validation errors (dates sorted): what every statistic here needs."""

    date: np.ndarray  # datetime64[D]
    n: np.ndarray  # windows on the date
    err: np.ndarray  # sum |target - prediction|
    base_half: np.ndarray  # sum |target - 0.5|
    base_mean: np.ndarray  # sum |target - train mean|
    ic: np.ndarray  # Spearman IC of the date (NaN when it has too few windows)

    def to_npz(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("date", "n", "err", "base_half", "base_mean", "ic")}

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> DateSeries:
        return cls(*(np.asarray(data[k]) for k in ("date", "n", "err", "base_half", "base_mean", "ic")))

    def blocks(self, n_blocks: int) -> list[np.ndarray]:
        """``n_blocks`` contiguous runs of dates (index arrays), as equal as the count allows."""
        return [b for b in np.array_split(np.arange(self.date.size), n_blocks) if b.size]


def ic_standard_error(ic: np.ndarray, lag: int = 0) -> float:
    """Standard error of the mean per-date IC, counting ``lag`` lags of autocorrelation.

    Forward returns over ``look_ahead`` days overlap for consecutive dates, so per-date ICs form
    (at least) an MA(look_ahead - 1) process; the naive std/sqrt(n) would make a random model look
    significant about sqrt(look_ahead) times too often. The truncated uniform kernel
    (Hansen-Hodrick) is exact for that process, where a Bartlett (Newey-West) kernel with the same
    lag is ~20% too small; the variance is floored at gamma0 / (lag + 1) so it stays positive.
    """
    ic = np.asarray(ic, np.float64)
    ic = ic[np.isfinite(ic)]
    n = ic.size
    if n < 2:
        return float("nan")
    x = ic - ic.mean()
    gamma0 = float(x @ x) / n
    var = gamma0
    for k in range(1, min(int(lag), n - 1) + 1):
        var += 2.0 * float(x[k:] @ x[:-k]) / n
    return math.sqrt(max(var, gamma0 / (int(lag) + 1)) / n)


def date_series(pred: np.ndarray, target: np.ndarray, dates: np.ndarray, train_mean: float) -> DateSeries:
    """Sum one set of predictions by date."""
    dates = np.asarray(dates, "datetime64[D]")
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    days, inv = np.unique(dates, return_inverse=True)

    def by_date(x: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=x, minlength=days.size)

    ic = np.full(days.size, np.nan)
    ic_days, ic_values = per_date_ic(pred, target, dates)
    ic[np.searchsorted(days, ic_days)] = ic_values
    return DateSeries(days, np.bincount(inv, minlength=days.size).astype(np.float64), by_date(np.abs(target - pred)),
                      by_date(np.abs(target - 0.5)), by_date(np.abs(target - train_mean)), ic)


def concat(parts: list[DateSeries]) -> DateSeries:
    """Series of disjoint periods (the folds' validation blocks) as one, sorted by date."""
    cat = {k: np.concatenate([p.to_npz()[k] for p in parts]) for k in parts[0].to_npz()}
    order = np.argsort(cat["date"], kind="stable")
    return DateSeries.from_npz({k: v[order] for k, v in cat.items()})


def skill_contributions(s: DateSeries, baseline: str = "half") -> np.ndarray:
    """x_t with mean(x) = 1 - sum(err) / sum(base): the per-date series behind the skill."""
    base = s.base_half if baseline == "half" else s.base_mean
    scale = base.mean() if base.size else float("nan")
    return (base - s.err) / scale if scale > 0 else np.full(base.shape, np.nan)


def skill_with_se(s: DateSeries, look_ahead: int, baseline: str = "half") -> tuple[float, float]:
    """(skill vs the baseline, its standard error with look_ahead - 1 lags of overlap)."""
    x = skill_contributions(s, baseline)
    if x.size == 0 or not np.isfinite(x).any():
        return float("nan"), float("nan")
    return float(np.nanmean(x)), ic_standard_error(x, lag=max(0, int(look_ahead) - 1))


def pbo(perf: np.ndarray, max_combinations: int = 20_000, seed: int = 0) -> tuple[float, np.ndarray]:
    """Probability of backtest overfitting from ``perf`` [S blocks, N trials] (higher is better).

    For every split of the S (even) blocks into halves, the trial best in-sample is ranked among all N
    out-of-sample: omega = rank / (N + 1), logit = ln(omega / (1 - omega)); PBO = P(logit <= 0), the
    chance that the in-sample winner is below the out-of-sample median. Returns (PBO, the logits).
    Beyond ``max_combinations`` splits a fixed random subset is used.
    """
    perf = np.asarray(perf, np.float64)
    n_blocks, n = perf.shape
    if n_blocks < 2 or n_blocks % 2 or n < 2:
        raise ValueError(f"PBO needs an even number >= 2 of blocks and >= 2 trials, got {perf.shape}")
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    if len(combos) > max_combinations:
        pick = np.random.default_rng(seed).choice(len(combos), max_combinations, replace=False)
        combos = [combos[i] for i in np.sort(pick)]
    mask = np.zeros((len(combos), n_blocks), bool)
    for i, c in enumerate(combos):
        mask[i, list(c)] = True
    half = n_blocks // 2
    ins = mask.astype(np.float64) @ perf / half  # [C, N]
    oos = (~mask).astype(np.float64) @ perf / half
    best = np.argmax(ins, axis=1)
    chosen = oos[np.arange(len(combos)), best][:, None]
    rank = (oos < chosen).sum(axis=1) + 0.5 * ((oos == chosen).sum(axis=1) - 1) + 1  # 1 = worst
    omega = rank / (n + 1)
    logits = np.log(omega / (1 - omega))
    return float((logits <= 0).mean()), logits


def _norm_ppf(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - 0.02425:
        return -_norm_ppf(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def norm_ppf(p: float) -> float:
    """Phi^-1(p) for 0 < p < 1."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"norm_ppf needs 0 < p < 1, but got p={p}")
    return _norm_ppf(p)


def norm_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), vectorised (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7; numpy has no erf and
    scipy is not a dependency)."""
    x = np.asarray(x, np.float64)
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


_Z = np.linspace(-8.5, 8.5, 1701)  # integration grid for the common factor of equicorrelated normals
_W = np.exp(-0.5 * _Z ** 2) * (_Z[1] - _Z[0]) / math.sqrt(2 * math.pi)
ALPHA = 0.05  # the verdict's false-positive rate on a market with no signal


def max_normal_cdf(c: float, n: int, rho: float) -> float:
    """P(max of ``n`` standard normals with pairwise correlation ``rho`` <= c).

    With X_i = sqrt(rho) Z + sqrt(1 - rho) e_i the maximum is below c iff every e_i is, given Z:
    P = E_Z[Phi((c - sqrt(rho) Z) / sqrt(1 - rho))^n], a one-dimensional integral (a fine grid).
    """
    if n <= 1 or rho >= 0.9999:
        return float(norm_cdf(np.array(c)))
    inner = norm_cdf((c - math.sqrt(rho) * _Z) / math.sqrt(1.0 - rho))
    return float(_W @ inner ** n)


@lru_cache(maxsize=4096)
def _bar(n: int, rho_pct: int, alpha: float) -> float:
    lo, hi = -1.0, 12.0
    target = 1.0 - alpha
    for _ in range(50):  # bisection: the CDF is increasing in c
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if max_normal_cdf(mid, n, rho_pct / 100.0) < target else (lo, mid)
    return hi


def selection_bar(n: int, rho: float, alpha: float = ALPHA) -> float:
    """The z the best of ``n`` no-signal trials (correlation ``rho``) exceeds with probability ``alpha``.

    Exact for equicorrelated normal z-scores, so the false-positive rate is ``alpha`` whatever rho and
    n are (at rho = 0 it is Sidak's Phi^-1((1 - alpha)^(1/n)), at rho = 1 Phi^-1(1 - alpha)). rho is
    rounded down to a percent (a slightly higher bar, and a cache that makes repeated verdicts cheap).
    """
    rho = min(max(float(rho), 0.0), 1.0) if math.isfinite(rho) else 0.0
    return _bar(max(int(n), 1), int(math.floor(rho * 100.0 + 1e-9)), float(alpha))


def hac_degrees_of_freedom(n_dates: int, lag: int) -> float:
    """Effective degrees of freedom of the truncated-kernel variance estimate: about n / (2 lag + 1).

    Measured on MA(lag) series (bench/verdict_null.py): z = mean / SE has an SD of 1.03 at 360
    dates and lag 4, a Student t with ~40 degrees of freedom, whose extra tail would raise a best-of-12
    false-positive rate from 5 % to ~7 %.
    """
    return max(float(n_dates) / (2 * max(int(lag), 0) + 1), 3.0)


def student_bar(z: float, df: float) -> float:
    """The Student t quantile with ``df`` degrees of freedom at the normal quantile ``z``'s level
    (Cornish-Fisher expansion, Abramowitz & Stegun 26.7.5; error < 1e-3 for df >= 5 at these levels)."""
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3


def equivalent_trials(bar: float, alpha: float = ALPHA) -> float:
    """N_eff: the number of independent trials whose Sidak bar Phi^-1((1 - alpha)^(1/N_eff)) is ``bar``."""
    return math.log(1.0 - alpha) / math.log(float(norm_cdf(np.array(bar))))


def mean_correlation(series: np.ndarray) -> float | None:
    """The trials' mean pairwise correlation (clipped to [0, 1]) of their per-date series [T, N]; None
    when fewer than two trials or too few complete dates say anything about it."""
    series = np.asarray(series, np.float64)
    if series.ndim != 2 or series.shape[1] < 2:
        return None
    ok = np.isfinite(series).all(axis=1)
    if ok.sum() < 3:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(series[ok].T)
    off = corr[~np.eye(series.shape[1], dtype=bool)]
    if not np.isfinite(off).any():
        return None
    return min(max(float(np.nanmean(off)), 0.0), 1.0)


def align(parts: list[DateSeries]) -> list[DateSeries]:
    """The series restricted to the dates they all have (same order)."""
    if not parts:
        return []
    first = parts[0].date
    if all(p.date.shape == first.shape and np.array_equal(p.date, first) for p in parts[1:]):
        return list(parts)  # the usual case: every trial scored the same folds
    common = first
    for p in parts[1:]:
        common = np.intersect1d(common, p.date)
    out = []
    for p in parts:
        keep = np.isin(p.date, common)
        out.append(DateSeries.from_npz({k: v[keep] for k, v in p.to_npz().items()}))
    return out
