"""The verdict's calibration on markets with no signal, in seconds and without training.

Simulated per-date validation series of N trials go through the product's own verdict functions
(``tuner.verdict_stats.answer_baselines`` and ``answer_defaults``, the ones `status` calls). On a
market with no signal every trial's expected skill vs always-0.5 is 0 and the winner is no better than
the defaults, so every "beats" of question (a) and every "better than the defaults" of question (b) is
a false positive; the nominal rate is ALPHA = 0.05 and the target is <= 0.07 in every cell.

The no-signal model, per date t (3 folds x ``--dates`` validation dates, look_ahead = 5):
  x[i, s, e, t] = sqrt(rho) g + sqrt(1 - rho) (sqrt(K) a_i + sqrt(1 - K) (sqrt(Q) r_is + sqrt(1 - Q) w_ise))
each term a standard normal innovation summed over 5 consecutive dates (targets that overlap over
look_ahead days), scaled to a skill SD of ``SIGMA`` per date: g common to all trials (correlation
rho), a_i the configuration's own, r_is the run's (seed s), w_ise the epoch's. The model's per-date
absolute error is E_t = B_t (1 - x_t), so its skill contribution is x_t. The winner is the trial with
the lowest validation MAE (mean of the folds'), as the objective ranks them; trial 0 is the defaults.

Flows (rows):
- "search": one epoch per trial; the winner's and the defaults' own trial series (the selection data
  itself: the hardest case). With "pruner", only the winner's series survives (n_examined = N).
- "epochs, trial series": 8 epochs x 3 folds, each fold's series at its best epoch (as early stopping
  picks it): what the verdict sees without confirmation. It then counts N x 8 x 3 candidates (each
  (fold, epoch) a candidate); counting N alone (``--epochs-as-one``, not counted) gives 0.31-0.35 false
  "beats" at rho = 0, and N x 8 gave 0.076 (while PBO still gated (a)).
- "search, configs lose": as "search", but the configurations differ in how much they lose to
  always-0.5 (none has skill): the defaults by ``DEFAULTS_LOSS`` per date, the others by up to half of
  it (a large default net fits more noise than a small tuned one, as on bench/payoff.py's no-signal
  markets). The paired test of (b) alone then says "better" most of the time (column "(b) w/o (a)",
  not counted); "better" needs (a) too, which keeps it at the nominal rate.
- "epochs, confirmed at a fixed epoch": the top 3 and the defaults retrained with 2 fresh seeds, each
  scored at the epoch fixed from the trial's own runs (the median of its folds' best epochs, what the
  refit trains); the confirmed winner and the confirmed defaults go to the verdict.

    python bench/verdict_null.py            # 1,000 replications per row (minutes on 2 shared cores)
    python bench/verdict_null.py --quick    # 150 replications of 10 rows (the test)
    python bench/verdict_null.py --json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.selection import DateSeries  # noqa: E402
from tuner.verdict_stats import BEATS, BETTER, answer_baselines, answer_defaults  # noqa: E402

LOOK_AHEAD = 5
FOLDS = 3
EPOCHS = 8
SIGMA = 0.02  # per-date SD of a trial's skill contribution
K = 0.5  # share of a configuration's own noise that its fresh-seed runs repeat on the same dates
Q = 0.7  # correlation of one run's epochs
WINDOWS = 100.0  # windows per date
TOP_K, SEEDS = 3, 2
DEFAULTS_LOSS = 0.5 * SIGMA  # "search, configs lose": the defaults' expected skill vs always-0.5 is -this
RHOS = (0.0, 0.5, 0.9, 0.99)
NS = (1, 2, 6, 12)


def _overlap(innov: np.ndarray) -> np.ndarray:
    """Innovations [..., T + look_ahead - 1] -> sums over look_ahead consecutive dates, unit variance."""
    c = np.cumsum(innov, axis=-1)
    c = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)
    return (c[..., LOOK_AHEAD:] - c[..., :-LOOK_AHEAD]) / math.sqrt(LOOK_AHEAD)


class Market:
    """One no-signal market: its dates, baseline errors and the shared noise terms."""

    def __init__(self, rng: np.random.Generator, n: int, rho: float, dates: int, lose: bool = False) -> None:
        self.rng, self.n, self.rho, self.t = rng, n, rho, FOLDS * dates
        self.dates = np.datetime64("2020-01-01") + np.arange(self.t)
        self.fold = np.repeat(np.arange(FOLDS), dates)
        self.base = WINDOWS * 0.25 * (1 + 0.1 * rng.standard_normal(self.t))  # sum |target - 0.5| per date
        self.g = self._noise(())
        self.a = self._noise((n,))
        # each configuration's expected skill: 0, or (``lose``) below 0, the defaults (trial 0) lowest
        self.offset = -DEFAULTS_LOSS * np.r_[1.0, 0.5 * rng.uniform(size=n - 1)] if lose else np.zeros(n)

    def _noise(self, shape: tuple[int, ...]) -> np.ndarray:
        return _overlap(self.rng.standard_normal(shape + (self.t + LOOK_AHEAD - 1,)))

    def runs(self, trials: np.ndarray, epochs: int) -> np.ndarray:
        """Skill contributions [len(trials), epochs, T] of one fresh run of each trial's configuration."""
        r = self._noise((trials.size, 1))
        w = self._noise((trials.size, epochs))
        own = math.sqrt(K) * self.a[trials, None] + math.sqrt(1 - K) * (math.sqrt(Q) * r + math.sqrt(1 - Q) * w)
        return SIGMA * (math.sqrt(self.rho) * self.g + math.sqrt(1 - self.rho) * own) + self.offset[trials, None, None]

    def series(self, x: np.ndarray) -> DateSeries:
        """A DateSeries whose skill contributions vs always-0.5 are ``x`` [T]."""
        err = self.base - x * self.base.mean()
        return DateSeries(self.dates, np.full(self.t, WINDOWS), err, self.base, self.base, np.full(self.t, np.nan))

    def mae(self, x: np.ndarray) -> np.ndarray:
        """Validation MAE per fold of contributions x [..., T] -> [..., FOLDS]."""
        err = self.base - x * self.base.mean()
        return np.stack([err[..., self.fold == f].sum(-1) / (WINDOWS * (self.fold == f).sum())
                         for f in range(FOLDS)], axis=-1)


def _best_epoch_series(m: Market, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x [N, E, T] -> (each fold at its best epoch [N, T], the trials' values [N], best epochs [N, FOLDS])."""
    mae = m.mae(x)  # [N, E, FOLDS]
    best = mae.argmin(axis=1)  # [N, FOLDS]
    picked = np.empty(x.shape[::2])
    for f in range(FOLDS):
        cols = m.fold == f
        picked[:, cols] = x[np.arange(x.shape[0]), best[:, f]][:, cols]
    return picked, np.take_along_axis(mae, best[:, None, :], 1)[:, 0].mean(-1), best


def one(flow: str, rng: np.random.Generator, n: int, rho: float, pruner: bool, dates: int) -> tuple[bool, bool, bool]:
    """One replication: (question (a) said "beats", question (b) said "better than the defaults", (b)'s
    paired test alone cleared its bar)."""
    m = Market(rng, n, rho, dates, lose=flow == "search, configs lose")
    everyone = np.arange(n)
    if flow.startswith("search"):
        x = m.runs(everyone, 1)[:, 0]
        values = m.mae(x).mean(-1)
        win = int(values.argmin())
        kept = [win] if pruner else list(everyone)
        trials = [m.series(x[i]) for i in kept]
        w, d = m.series(x[win]), m.series(x[0])
    else:
        picked, values, best = _best_epoch_series(m, m.runs(everyone, EPOCHS))
        trials = [m.series(picked[i]) for i in everyone]
        if flow.startswith("epochs, trial series"):
            win = int(values.argmin())
            w, d = m.series(picked[win]), m.series(picked[0])
        else:  # confirmed: top-k by the search + the defaults, fresh seeds, each at its fixed epoch
            cand = np.unique(np.r_[np.argsort(values, kind="stable")[:TOP_K], 0])
            fixed = np.median(best[cand], axis=1).astype(int)  # [len(cand)] the refit's epoch
            runs = np.stack([m.runs(cand, EPOCHS)[np.arange(cand.size), fixed] for _ in range(SEEDS)]).mean(0)
            win_at = int(m.mae(runs).mean(-1).argmin())
            win = int(cand[win_at])
            w, d = m.series(runs[win_at]), m.series(runs[int(np.flatnonzero(cand == 0)[0])])
    a = answer_baselines(w, trials, n, LOOK_AHEAD, EPOCHS * FOLDS if flow == "epochs, trial series" else 1)
    b = answer_defaults(w, d, n, LOOK_AHEAD, winner_is_defaults=win == 0, defaults_trial=0, defaults_from="sim",
                        winner_beats=a.beats)
    return a.outcome == BEATS, b.outcome == BETTER, b.z is not None and b.z > b.bar_z


def cells(quick: bool, epochs_as_one: bool = False) -> list[tuple[str, float, int, bool, bool]]:
    """(flow, rho, N, pruner, counted) of every row."""
    rhos, ns = ((0.0, 0.99), (12,)) if quick else (RHOS, NS)
    rows = [("search", r, n, p, True) for p in (False, True) for r in rhos for n in ns]
    rows += [("search, configs lose", r, n, False, True) for r in rhos for n in ns if n > 1]
    for flow in ("epochs, trial series", "epochs, confirmed at a fixed epoch"):
        rows += [(flow, r, n, False, True) for r in rhos for n in ((6,) if quick else (6, 12))]
    if epochs_as_one:  # the uncorrected trial-series verdict, for comparison (not counted)
        rows += [("epochs, trial series, N only", r, n, False, False) for r in rhos for n in ((6,) if quick else (6, 12))]
    return rows


def run(reps: int, dates: int, quick: bool, seed: int = 0, epochs_as_one: bool = False) -> dict[str, Any]:
    rows = []
    for i, (flow, rho, n, pruner, counted) in enumerate(cells(quick, epochs_as_one)):
        rng = np.random.default_rng([seed, i])
        hits = np.array([one(flow, rng, n, rho, pruner, dates) for _ in range(reps)])
        rows.append({"flow": flow, "rho": rho, "n_trials": n, "pruner": "one survivor" if pruner else "none",
                     "reps": reps, "false_beats_baselines": float(hits[:, 0].mean()),
                     "false_better_defaults": float(hits[:, 1].mean()),
                     "paired_test_alone": float(hits[:, 2].mean()), "counted": counted})
    counted_rates = [r[k] for r in rows if r["counted"] for k in ("false_beats_baselines", "false_better_defaults")]
    return {"max_false_beats": max(counted_rates), "rows": rows, "reps": reps, "dates": FOLDS * dates,
            "look_ahead": LOOK_AHEAD, "machine": f"{platform.machine()} {platform.system()}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="150 replications of 10 rows (the test)")
    p.add_argument("--reps", type=int, default=None, help="replications per cell (default 1000, --quick 200)")
    p.add_argument("--dates", type=int, default=120, help="validation dates per fold (default 120)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--epochs-as-one", action="store_true",
                   help="also the trial-series verdict counting N trials only (not counted: shows the epoch bias)")
    args = p.parse_args(argv)
    reps = args.reps or (150 if args.quick else 1000)
    started = time.perf_counter()
    out = run(reps, args.dates, args.quick, args.seed, args.epochs_as_one)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"false-positive rates on no-signal markets ({reps} replications per row, {out['dates']} validation dates, "
          f"look_ahead {LOOK_AHEAD}; nominal 0.05, target <= 0.07)")
    print(f"{'flow':<36}{'rho':>5}{'N':>4}  {'pruner':<13}{'(a) beats':>10}{'(b) better':>11}{'(b) w/o (a)':>12}")
    for r in out["rows"]:
        note = "" if r["counted"] else "  (not counted)"
        print(f"{r['flow']:<36}{r['rho']:>5g}{r['n_trials']:>4}  {r['pruner']:<13}{r['false_beats_baselines']:>10.3f}"
              f"{r['false_better_defaults']:>11.3f}{r['paired_test_alone']:>12.3f}{note}")
    print(f"max_false_beats (counted rows): {out['max_false_beats']:.3f}   ({out['seconds']} s, {out['machine']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
