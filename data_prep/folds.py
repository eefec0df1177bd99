"""Walk-forward validation folds over the prepared train + validation windows; the test period is never used.

Fold k (1..K) validates on block k of the trading calendar, [s_k, e_k], and trains on windows before
it, with the prepared split's purge gap + embargo (``gap``) between every training target and every
validation input, as ``split.py`` does at its boundaries:

    train window:  last target day  <= d[s_k - gap - 1]       (rolling: first input day >= d[s_k - gap - train_days])
    val window:    first input day  >= d[s_k]   and   last target day <= d[e_k]

The K blocks, of ``fold_days`` trading days each, end on the validation period's last day. By default
``fold_days`` is the validation period's own length, so K = 1 is exactly the prepared train/val split
and fold K validates on the prepared validation period. A fold must train on at least as many trading
days as it validates on. Folds are index arrays into the prepared train and val windows: the feature
matrix stays the one shared memory map, nothing is prepared twice.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.errors import InputError
from common.settings import check

from .dataset import PreparedDataset, SplitArrays

__all__ = ["FoldConfig", "Fold", "FoldPlan", "plan_folds", "SCHEMES", "AUTO_FOLDS"]

SCHEMES = ("expanding", "rolling")
AUTO_FOLDS = 3  # folds = "auto": this many, or the most the data fits when fewer


@dataclass(frozen=True)
class FoldConfig:
    """[validation]: how many walk-forward folds, how they train, and how long each validates."""

    folds: int | str = "auto"  # K >= 1, or "auto" (3, or fewer when the data fits fewer)
    scheme: str = "expanding"  # expanding: all earlier windows; rolling: the last train_days before the gap
    fold_days: int | None = None  # trading days per validation block; None = the validation period's length
    train_days: int | None = None  # rolling: trading days of training; None = fold 1's

    def __post_init__(self) -> None:
        check(self.folds == "auto" or (isinstance(self.folds, int) and self.folds >= 1),
              f"folds must be a positive integer or \"auto\", but got folds={self.folds!r}.")
        check(self.scheme in SCHEMES, f"scheme must be one of {SCHEMES}, but got scheme={self.scheme!r}.")
        check(self.fold_days is None or self.fold_days >= 1,
              f"fold_days must be >= 1 trading day, but got fold_days={self.fold_days}.")
        check(self.train_days is None or self.train_days >= 1,
              f"train_days must be >= 1 trading day, but got train_days={self.train_days}.")


@dataclass(frozen=True)
class Fold:
    number: int  # 1..K, oldest validation block first
    train: np.ndarray  # int64 indices into FoldPlan's windows
    val: np.ndarray
    train_period: tuple[str, str]  # first and last day a training window touches
    val_period: tuple[str, str]  # the validation block's first and last trading day


@dataclass(frozen=True)
class FoldPlan:
    """The folds of one prepared dataset: index arrays into its train + val windows (in that order)."""

    folds: list[Fold]
    end_idx: np.ndarray  # int64 window end rows: the prepared train split, then the val split
    target: np.ndarray
    ret: np.ndarray
    gap_days: int
    scheme: str
    fold_days: int

    def __len__(self) -> int:
        return len(self.folds)

    def dataset(self, dataset: PreparedDataset, number: int) -> PreparedDataset:
        """``dataset`` with splits train/val of fold ``number`` (test kept): same memory-mapped features."""
        f = self.folds[number - 1]

        def part(idx: np.ndarray) -> SplitArrays:
            return SplitArrays(self.end_idx[idx], self.target[idx], self.ret[idx])

        splits = {**dataset.splits, "train": part(f.train), "val": part(f.val)}
        return dataclasses.replace(dataset, splits=splits)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-friendly: each fold's periods and window counts (for notes, status and the report)."""
        return [{"fold": f.number, "train": list(f.train_period), "val": list(f.val_period),
                 "n_train": int(f.train.size), "n_val": int(f.val.size)} for f in self.folds]


def _calendar(dates: np.ndarray) -> np.ndarray:
    """The sorted trading days of all rows, in O(n) (a bincount, not a 10M-row sort)."""
    d = np.asarray(dates, "datetime64[D]").astype(np.int64)
    lo = int(d.min())
    return (np.flatnonzero(np.bincount(d - lo)) + lo).astype("datetime64[D]")


def plan_folds(dataset: PreparedDataset, cfg: FoldConfig, where: str = "[validation]") -> FoldPlan:
    """The K folds of ``cfg`` over ``dataset``; InputError naming ``folds`` and the largest K that fits."""
    calendar = _calendar(dataset.date)
    gap = dataset.gap_days
    tr, va = dataset.split("train"), dataset.split("val")
    end_idx = np.concatenate([np.asarray(tr.end_idx, np.int64), np.asarray(va.end_idx, np.int64)])
    target = np.concatenate([np.asarray(tr.target), np.asarray(va.target)])
    ret = np.concatenate([np.asarray(tr.ret), np.asarray(va.ret)])
    date = dataset.date
    first = np.searchsorted(calendar, date[end_idx - dataset.look_back + 1])  # first input day, as a day index
    last = np.searchsorted(calendar, date[end_idx + dataset.look_ahead])  # last target day
    periods = dataset.meta.get("splits", {})
    if "val" not in periods or not periods["val"].get("start"):
        raise InputError(f"the dataset at {dataset.path} records no validation period; rebuild it with `stocktune prep`.")
    val_start = int(np.searchsorted(calendar, np.datetime64(periods["val"]["start"])))
    val_end = int(np.searchsorted(calendar, np.datetime64(periods["val"]["end"]), side="right")) - 1
    length = cfg.fold_days or (val_end - val_start + 1)

    need = cfg.train_days if cfg.scheme == "rolling" and cfg.train_days else length  # days fold 1 trains on

    def build(k_total: int) -> list[Fold] | None:
        folds = []
        train_days = cfg.train_days
        for k in range(1, k_total + 1):
            e = val_end - (k_total - k) * length
            s = e - length + 1
            cut = s - gap - 1  # the last day a training target may touch
            if cut + 1 < need:  # too few training days before the gap
                return None
            if cfg.scheme == "rolling" and train_days is None:
                train_days = cut + 1  # fold 1's training span
            lo = cut - train_days + 1 if cfg.scheme == "rolling" else 0
            train = np.flatnonzero((last <= cut) & (first >= lo))
            val = np.flatnonzero((first >= s) & (last <= e))
            if train.size == 0 or val.size == 0:
                return None
            folds.append(Fold(k, train, val, (str(calendar[max(lo, 0)]), str(calendar[cut])),
                              (str(calendar[s]), str(calendar[e]))))
        return folds

    # fold 1 has the fewest training days: cut_1 + 1 >= need gives the largest K; an empty fold lowers it
    largest = max(0, (val_end - gap + 1 - need) // length)
    while largest > 0 and build(largest) is None:
        largest -= 1
    if largest == 0:
        raise InputError(f"not even one validation fold fits the data: with fold_days={length} the training part "
                         f"would be shorter than one block; lower [validation] fold_days ({where}).")
    k = min(AUTO_FOLDS, largest) if cfg.folds == "auto" else int(cfg.folds)
    if k > largest:
        raise InputError(f"folds = {k} does not fit the data: each fold validates on {length} trading days and must "
                         f"train on at least as many before its purge gap; the largest number of folds that fits "
                         f"is {largest}. Set [validation] folds <= {largest} or a smaller fold_days ({where}).")
    return FoldPlan(build(k), end_idx, target, ret, gap, cfg.scheme, length)  # type: ignore[arg-type]
