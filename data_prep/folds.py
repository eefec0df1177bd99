"""Walk-forward validation folds over the prepared train + validation windows; the test period is never used.

Fold k (1..K) validates on block k of the trading calendar, [s_k, e_k], and trains on windows before
it, with the prepared split's purge gap + embargo (``gap``) between every training target and every
validation input, as ``split.py`` does at its boundaries:

    train window:  last target day  <= d[s_k - gap - 1]       (rolling: first input day >= d[s_k - gap - train_days])
    val window:    first input day  >= d[s_k]   and   last target day <= d[e_k]

The K blocks, of ``fold_days`` trading days each, end on the validation period's last day. By default
``fold_days`` is the validation period's own length, so K = 1 is exactly the prepared train/val split
and fold K validates on the prepared validation period. A fold must train on at least as many trading
days as it validates on. A fold is, per ticker, one run of the prepared train windows and one of the
val windows (both sorted by row), so it is stored as ranges of positions (``ranges.Ranges``: a few
thousand pairs at full size) and read through the memory-mapped split arrays (``FoldPlan.dataset``):
the feature matrix and the windows stay the one shared memory map, nothing is prepared or copied per
worker or per trial.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.errors import InputError
from common.settings import check

from .dataset import PreparedDataset, SplitArrays
from .ranges import CHUNK, RangeColumn, Ranges

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
    train: Ranges  # positions in FoldPlan's windows (the prepared train split, then the val split)
    val: Ranges
    train_period: tuple[str, str]  # first and last day a training window touches
    val_period: tuple[str, str]  # the validation block's first and last trading day


@dataclass(frozen=True)
class FoldPlan:
    """The folds of one prepared dataset: ranges of positions in its train + val windows (in that order)."""

    folds: list[Fold]
    gap_days: int
    scheme: str
    fold_days: int

    def __len__(self) -> int:
        return len(self.folds)

    def dataset(self, dataset: PreparedDataset, number: int) -> PreparedDataset:
        """``dataset`` with splits train/val of fold ``number`` (test kept): the same memory-mapped features and
        split arrays, read through the fold's ranges (``RangeColumn``), so nothing is copied per trial."""
        f = self.folds[number - 1]
        parts = (dataset.split("train"), dataset.split("val"))

        def part(r: Ranges) -> SplitArrays:
            return SplitArrays(*(RangeColumn([getattr(p, k) for p in parts], r, ascending=k == "end_idx")
                                 for k in ("end_idx", "target", "ret")))

        splits = {**dataset.splits, "train": part(f.train), "val": part(f.val)}
        return dataclasses.replace(dataset, splits=splits)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-friendly: each fold's periods and window counts (for notes, status and the report)."""
        return [{"fold": f.number, "train": list(f.train_period), "val": list(f.val_period),
                 "n_train": int(f.train.size), "n_val": int(f.val.size)} for f in self.folds]


def _calendar(dates: np.ndarray) -> np.ndarray:
    """The sorted trading days of all rows, in O(n) time and chunk-sized memory (no 10M-row temporaries)."""
    days = np.zeros(0, np.int64)
    for lo in range(0, dates.shape[0], CHUNK):
        d = np.asarray(dates[lo: lo + CHUNK], "datetime64[D]").astype(np.int64)
        first = int(d.min())
        days = np.union1d(days, np.flatnonzero(np.bincount(d - first)) + first)  # a few thousand days
    return days.astype("datetime64[D]")


def _ascending(a: np.ndarray) -> bool:
    """``a`` is non-decreasing, checked in chunks (the arrays are memory maps of millions of rows)."""
    return all(np.all(np.diff(a[lo: lo + CHUNK + 1]) >= 0) for lo in range(0, a.shape[0], CHUNK))


class _TickerRows:
    """Each ticker's rows [r0, r1) of the (ticker, date)-sorted dataset, and binary searches of its dates."""

    def __init__(self, dataset: PreparedDataset) -> None:
        ticker, self.date = dataset.ticker, dataset.date
        n = ticker.shape[0]
        # keys in the column's own dtype: int64 keys would make searchsorted cast all 10M rows (a 65 MB copy)
        keys = np.arange(int(ticker[n - 1]) + 2 if n else 1, dtype=ticker.dtype)
        starts = np.searchsorted(ticker, keys)  # O(tickers log rows): a few pages of the memory map
        self.r0, self.r1 = starts[:-1].astype(np.int64), starts[1:].astype(np.int64)

    def first_row(self, day: np.datetime64, after: bool) -> np.ndarray:
        """Per ticker, its first row dated > ``day`` (``after``) or >= ``day``; r1 when there is none.

        One vectorized binary search over all tickers (~23 steps of a few thousand reads)."""
        lo, hi = self.r0.copy(), self.r1.copy()
        last = max(self.date.shape[0] - 1, 0)
        while (active := lo < hi).any():
            mid = (lo + hi) // 2
            d = self.date[np.minimum(mid, last)]
            right = active & ((d <= day) if after else (d < day))
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)
        return lo


def _select(parts: tuple[np.ndarray, ...], rows: _TickerRows, look_back: int, look_ahead: int,
            first_day: np.datetime64 | None, last_day: np.datetime64) -> Ranges:
    """The windows of ``parts`` (sorted end rows, end to end) whose first input day is >= ``first_day``
    (None: no bound) and whose last target day is <= ``last_day``.

    Within a ticker both conditions bound the window's end row (its input rows end - look_back + 1 ..
    end and target rows end + 1 .. end + look_ahead are that ticker's), so the windows of a ticker
    form one run of each part: one (start, count) per ticker and part."""
    hi_row = rows.first_row(last_day, after=True) - 1 - look_ahead  # date[end + look_ahead] <= last_day
    lo_row = rows.r0 + look_back - 1
    if first_day is not None:
        lo_row = rows.first_row(first_day, after=False) + look_back - 1  # date[end - look_back + 1] >= first_day
    starts, counts, offset = [], [], 0
    for p in parts:
        a = np.searchsorted(p, lo_row.astype(p.dtype), side="left")  # keys in p's dtype: no cast of p
        b = np.searchsorted(p, hi_row.astype(p.dtype), side="right")
        starts.append(a + offset)
        counts.append(np.maximum(b - a, 0))
        offset += p.shape[0]
    return Ranges(np.concatenate(starts), np.concatenate(counts))


def plan_folds(dataset: PreparedDataset, cfg: FoldConfig, where: str = "[validation]") -> FoldPlan:
    """The K folds of ``cfg`` over ``dataset``; InputError naming ``folds`` and the largest K that fits.

    Costs O(tickers x log rows) reads per fold plus one chunked pass over the dates (the calendar):
    no per-window array, so every worker plans its folds in well under a second at 10M rows."""
    calendar = _calendar(dataset.date)
    gap = dataset.gap_days
    parts = (dataset.split("train").end_idx, dataset.split("val").end_idx)
    if not all(_ascending(p) for p in parts) or not _ascending(dataset.ticker):
        raise InputError(f"the dataset at {dataset.path} does not list its rows by (ticker, date) and its windows "
                         f"in row order; rebuild it with `stocktune prep`.")
    rows = _TickerRows(dataset)
    L, A = dataset.look_back, dataset.look_ahead
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
            train = _select(parts, rows, L, A, calendar[lo] if lo > 0 else None, calendar[cut])
            val = _select(parts, rows, L, A, calendar[s], calendar[e])
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
    return FoldPlan(build(k), gap, cfg.scheme, length)  # type: ignore[arg-type]
