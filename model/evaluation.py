"""Score a trained model on the held-out TEST period, next to a shuffled-label control.

Tuning picks hyperparameters on the validation period, so validation metrics of the best trial are
optimistic. The test period (after val + purge gap) is never read by tuning; scoring it once,
at the end, is the honest estimate. Two things make that estimate trustworthy:

- the baselines and the per-date rank IC with a standard error that accounts for the overlap of
  forward returns (consecutive dates share ``look_ahead - 1`` days of return, so the naive standard
  error is too small);
- CONTROL models trained with the same config on SHUFFLED training labels, each with its own seed.
  They cannot have learned anything real, so their test IC must be ~0; controls that agree on a
  clearly non-zero IC mean information reaches the model some other way than through the labels.

The metric functions themselves come from ``model.metrics`` (shared with the validation loop);
this module only adds what an evaluation needs on top: standard errors, the calibration table,
the control and the leak flag.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.errors import InputError
from data_prep.dataset import PreparedDataset, SplitArrays

from .calibration import CalibrationBin, calibration_table
from .config import TrainConfig
from .metrics import per_date_ic, regression_metrics
from .selection import date_series, ic_standard_error, skill_with_se

__all__ = ["LEAK_Z", "Metrics", "ControlRun", "LeakCheck", "ControlScore", "Score", "Evaluation", "score_predictions",
           "per_date_ic", "ic_standard_error", "shuffle_training_labels", "train_control", "evaluate_split",
           "leak_check"]

LEAK_Z = 3.0  # the control is flagged when |IC| exceeds this many standard errors


@dataclass(frozen=True)
class Metrics:
    """One set of predictions scored on a split: evaluation.json's ``model`` entry (and the core of
    ``control``). The fields are the JSON keys; docs/final-model.md says what each means."""

    n_windows: int
    n_dates: int
    n_ic_dates: int
    mae: float
    rmse: float
    dir_acc: float
    baseline_mae_half: float
    baseline_mae_mean: float
    skill_half: float
    skill_mean: float
    skill_half_se: float
    skill_mean_se: float
    ic: float
    ic_se: float
    ic_t: float
    icir: float
    ic_positive_frac: float
    pred_mean: float
    pred_std: float
    rise_rate: float
    dir_acc_ret: float
    train_mean: float
    calibration: tuple[CalibrationBin, ...]

    def to_json(self) -> dict[str, Any]:
        """evaluation.json's keys, in its order (each field named once more here, so that a renamed
        field cannot silently rename a key)."""
        return {"n_windows": self.n_windows, "n_dates": self.n_dates, "n_ic_dates": self.n_ic_dates,
                "mae": self.mae, "rmse": self.rmse, "dir_acc": self.dir_acc,
                "baseline_mae_half": self.baseline_mae_half, "baseline_mae_mean": self.baseline_mae_mean,
                "skill_half": self.skill_half, "skill_mean": self.skill_mean, "skill_half_se": self.skill_half_se,
                "skill_mean_se": self.skill_mean_se, "ic": self.ic, "ic_se": self.ic_se, "ic_t": self.ic_t,
                "icir": self.icir, "ic_positive_frac": self.ic_positive_frac, "pred_mean": self.pred_mean,
                "pred_std": self.pred_std, "rise_rate": self.rise_rate, "dir_acc_ret": self.dir_acc_ret,
                "train_mean": self.train_mean, "calibration": [b.to_json() for b in self.calibration]}


@dataclass(frozen=True)
class ControlRun:
    """One shuffled-label control, scored alone (``control.runs`` in evaluation.json)."""

    seed: int
    ic: float
    ic_se: float
    icir: float
    skill_half: float
    skill_mean: float
    mae: float
    pred_std: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LeakCheck:
    """The leak test of the controls' mean prediction (``leak_check``)."""

    leak_z: float
    leak_se: float
    leak_t: float
    ic_runs_std: float
    leak_flag: bool
    leak_note: str

    def to_json(self) -> dict[str, Any]:
        return {"leak_z": self.leak_z, "leak_se": self.leak_se, "leak_t": self.leak_t,
                "ic_runs_std": self.ic_runs_std, "leak_flag": self.leak_flag, "leak_note": self.leak_note}


@dataclass(frozen=True)
class ControlScore:
    """The controls: their mean prediction scored, each run alone, and the leak test."""

    metrics: Metrics
    runs: tuple[ControlRun, ...]
    leak: LeakCheck
    epochs: int | None = None  # each control's training epochs, when known

    @property
    def n_controls(self) -> int:
        return len(self.runs)

    def to_json(self) -> dict[str, Any]:
        out = {**self.metrics.to_json(), "n_controls": self.n_controls, "runs": [r.to_json() for r in self.runs],
               **self.leak.to_json()}
        if self.epochs is not None:
            out["epochs"] = self.epochs
        return out


@dataclass(frozen=True)
class Score:
    """One set of predictions scored: the metrics and the arrays behind the plots
    (``pred``, ``target`` per window; ``ic_dates``, ``ic`` per date)."""

    metrics: Metrics
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """A split scored for the model (and the controls); ``series`` maps "model"/"control" to their
    ``Score.arrays``."""

    split: str
    train_splits: tuple[str, ...]
    model: Metrics
    control: ControlScore | None
    series: dict[str, dict[str, np.ndarray]]

    def to_json(self) -> dict[str, Any]:
        """evaluation.json's core: split, train_splits, model and (with controls) control."""
        out: dict[str, Any] = {"split": self.split, "train_splits": list(self.train_splits),
                               "model": self.model.to_json()}
        if self.control is not None:
            out["control"] = self.control.to_json()
        return out


def score_predictions(pred: np.ndarray, target: np.ndarray, ret: np.ndarray, dates: np.ndarray,
                      train_mean: float, look_ahead: int = 1, n_bins: int = 10) -> Score:
    """All test metrics for one set of predictions (one entry of evaluation.json, plus plot series).

    ``train_mean`` is the mean target of the splits the model was trained on: the "always the
    train mean" baseline must not peek at the test targets.
    """
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    ret = np.asarray(ret, np.float64)
    dates = np.asarray(dates, "datetime64[D]")
    m = regression_metrics(pred, target, dates, train_mean=train_mean, prefix="")
    ic_dates, ic = per_date_ic(pred, target, dates)
    ok = np.isfinite(ic)
    ic_mean = float(m["ic"])  # == ic.mean(): the same definition as the validation metric
    se = ic_standard_error(ic, lag=max(0, int(look_ahead) - 1))
    finite_ret = np.isfinite(ret)
    by_date = date_series(pred, target, dates, train_mean)
    skill_half_se = skill_with_se(by_date, look_ahead, "half")[1]
    skill_mean_se = skill_with_se(by_date, look_ahead, "mean")[1]
    metrics = Metrics(
        n_windows=int(pred.size),
        n_dates=int(np.unique(dates).size),
        n_ic_dates=int(ok.sum()),
        mae=float(m["mae"]),
        rmse=float(m["rmse"]),
        dir_acc=float(m["dir_acc"]),
        baseline_mae_half=float(m["baseline_mae_half"]),
        baseline_mae_mean=float(m["baseline_mae_mean"]),
        skill_half=float(m["skill_half"]),
        skill_mean=float(m["skill_mean"]),
        skill_half_se=skill_half_se,
        skill_mean_se=skill_mean_se,
        ic=ic_mean,
        ic_se=se,
        ic_t=ic_mean / se if se and np.isfinite(se) and se > 0 else float("nan"),
        icir=float(m["icir"]),
        ic_positive_frac=float((ic[ok] > 0).mean()) if ok.any() else float("nan"),
        pred_mean=float(pred.mean()) if pred.size else float("nan"),
        pred_std=float(pred.std()) if pred.size else float("nan"),
        rise_rate=float((ret[finite_ret] > 0).mean()) if finite_ret.any() else float("nan"),
        # directional accuracy against the realized sign of the return, not the target's side of 0.5
        dir_acc_ret=float(((pred[finite_ret] > 0.5) == (ret[finite_ret] > 0)).mean()) if finite_ret.any()
        else float("nan"),
        train_mean=float(train_mean),
        calibration=calibration_table(pred, target, ret, n_bins),
    )
    arrays = {"pred": pred.astype(np.float32), "target": target.astype(np.float32),
              "ic_dates": ic_dates, "ic": ic}
    return Score(metrics, arrays)


def _train_mean(dataset: PreparedDataset, splits: tuple[str, ...]) -> float:
    parts = [np.asarray(dataset.split(s).target, np.float64) for s in splits if s in dataset.splits]
    parts = [p for p in parts if p.size]
    if not parts:
        raise InputError(f"the dataset at {dataset.path} has no training windows in splits {list(splits)}.")
    return float(np.concatenate(parts).mean())


def shuffle_training_labels(dataset: PreparedDataset, splits: tuple[str, ...], seed: int = 0) -> PreparedDataset:
    """A copy of ``dataset`` whose ``splits`` targets (and returns, alike) are randomly permuted.

    Features, window positions and the other splits are untouched (shared, still memory-mapped),
    so a model trained on it sees exactly the same inputs as the real one but labels that carry
    no information about them.
    """
    rng = np.random.default_rng(seed)
    new = dict(dataset.splits)
    for s in splits:
        sa = dataset.split(s)
        perm = rng.permutation(len(sa))
        new[s] = SplitArrays(np.asarray(sa.end_idx), np.asarray(sa.target)[perm], np.asarray(sa.ret)[perm])
    return dataclasses.replace(dataset, splits=new)


def train_control(dataset: PreparedDataset, cfg: TrainConfig, seed: int = 12345,
                  on_epoch: Callable[[int, dict], bool] | None = None):
    """Train the same architecture and budget on shuffled training labels; return the network.

    ``seed`` drives both the shuffle and the initialization: the control must not share the real
    model's initial weights, or every control would inherit the same random-function exposure to
    the market's real signal. No evaluation split is used (like a final refit), so the budget is
    exactly ``cfg.epochs`` and the test period stays unread until scoring.
    """
    from . import fit  # the package export (lazy): keeps this module cheap to import

    shuffled = shuffle_training_labels(dataset, tuple(cfg.train_splits), seed=seed)
    ccfg = dataclasses.replace(cfg, eval_split=None, seed=int(seed))  # the model's own splits and epochs
    return fit(shuffled, ccfg, on_epoch=on_epoch).model


def evaluate_split(net, dataset: PreparedDataset, cfg: TrainConfig, split: str = "test",
                   control_nets: list | tuple = (), control_seeds: list | tuple = (),
                   device: str | None = None, n_bins: int = 10, control_epochs: int | None = None) -> Evaluation:
    """Score ``net`` and the shuffled-label controls on ``split``.

    ``control`` scores the controls' mean prediction (an ensemble: averaging independently
    initialized controls shrinks the random-function part of their IC) and carries each control's
    IC in ``runs`` plus the leak test (``leak_check``).
    """
    from .inference import predict  # lazy, see train_control

    sa = dataset.split(split)
    if len(sa) == 0:
        raise InputError(f"the {split} split of the dataset at {dataset.path} has no windows; "
                         "prepare the data with a longer history or smaller train_frac/val_frac.")
    end_idx = np.asarray(sa.end_idx)
    dates = dataset.date[end_idx]
    train_mean = _train_mean(dataset, tuple(cfg.train_splits))
    look_ahead = dataset.look_ahead

    def score(pred: np.ndarray) -> Score:
        return score_predictions(pred, sa.target, sa.ret, dates, train_mean, look_ahead, n_bins)

    def run(n) -> np.ndarray:
        return predict(n, dataset, end_idx, batch_size=cfg.eval_batch_size, device=device)

    sc = score(run(net))
    model, series = sc.metrics, {"model": sc.arrays}
    control = None
    if control_nets:
        preds = [run(n) for n in control_nets]
        seeds = list(control_seeds) or list(range(len(preds)))
        runs = []
        for s, p in zip(seeds, preds):
            r = score(p).metrics
            runs.append(ControlRun(seed=int(s), ic=r.ic, ic_se=r.ic_se, icir=r.icir, skill_half=r.skill_half,
                                   skill_mean=r.skill_mean, mae=r.mae, pred_std=r.pred_std))
        sc = score(np.mean(preds, axis=0))
        leak = leak_check(sc.metrics.ic, sc.metrics.ic_se, [r.ic for r in runs])
        control = ControlScore(sc.metrics, tuple(runs), leak, control_epochs)
        series["control"] = sc.arrays
    return Evaluation(split, tuple(cfg.train_splits), model, control, series)


def leak_check(ic: float, ic_se: float, run_ics: list[float] | tuple[float, ...] = (), z: float = LEAK_Z) -> LeakCheck:
    """Is the controls' IC too large to be chance? ``leak_flag`` when |IC| > z x ``leak_se``.

    A control trained on shuffled labels can still rank the test windows by accident: its output
    is some function of the features, and in a market with real signal a random function of the
    features carries a random-sign share of it. With several independently initialized controls
    that share averages out and its size is measured by their spread, so
    ``leak_se = sqrt(ic_se^2 + spread^2 / n)``; a consistent IC across controls (the same sign,
    beyond that) means the labels reach the model by a path the shuffle does not cut.
    """
    ic, se = float(ic), float(ic_se)
    runs = [float(r) for r in run_ics]
    spread = float(np.std(runs, ddof=1)) if len(runs) >= 2 else 0.0
    leak_se = math.sqrt(se * se + spread * spread / len(runs)) if len(runs) >= 2 else se
    ok = np.isfinite(ic) and np.isfinite(leak_se) and leak_se > 0
    t = ic / leak_se if ok else float("nan")
    flagged = bool(ok and abs(t) > z)
    note = (f"control IC={ic:+.4f} is {abs(t):.1f} standard errors from 0 (> {z:g}): information reaches the model "
            "without the labels; check the features, the split and the training data path for a leak" if flagged
            else f"control IC={ic:+.4f} is within {z:g} standard errors of 0 (t={t:+.2f}): no sign of a leak")
    return LeakCheck(leak_z=z, leak_se=leak_se, leak_t=t, ic_runs_std=spread, leak_flag=flagged, leak_note=note)
