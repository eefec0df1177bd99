"""Prep settings: one frozen dataclass, built from the [data] table of a study or fit file."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.settings import check, from_mapping, to_mapping

__all__ = ["PrepConfig", "TARGET_METHODS"]

TARGET_METHODS = ("auto", "cs_rank", "ecdf", "resample")


@dataclass(frozen=True)
class PrepConfig:
    """Everything that decides the prepared dataset; its fields (plus the input's content) form the cache key."""

    look_back: int = 60  # rows per input window
    look_ahead: int = 5  # trading days of the forward return
    target: str = "auto"  # auto | cs_rank | ecdf | resample
    cs_rank_min_tickers: int = 20  # auto picks cs_rank when the median date has at least this many tickers
    resample_lower: float = 0.0  # resample: clip the rise probability's support to [lower, upper]
    resample_upper: float = 1.0
    resample_bins: int = 50
    # time split: fractions of the trading dates, or explicit end dates (inclusive, YYYY-MM-DD)
    train_frac: float = 0.7
    val_frac: float = 0.15
    train_end: str | None = None
    val_end: str | None = None
    purge_gap: int | None = None  # trading days between splits; None = look_ahead; never less
    embargo: int = 0  # extra trading days added to the purge gap
    max_halt_days: int = 5  # a run of zero-volume days longer than this breaks a ticker's windows
    adjust: str = "auto"  # auto: use adj_close/factor/events when given, else detect splits; none: off
    events: str | None = None  # CSV of (ticker, date, ratio) corporate events
    decimal: str | None = None  # decimal mark of numbers written as text: "," or "."; None: read from each column
    resample: str | None = None  # "daily": aggregate intraday bars (several rows per ticker and date) to daily bars
    date_format: str | None = None  # strptime format of text dates ("%d/%m/%y"); None: decided from each column

    def __post_init__(self) -> None:
        check(self.look_back >= 1, f"look_back must be a positive integer, but got look_back={self.look_back}.")
        check(self.look_ahead >= 1, f"look_ahead must be a positive integer, but got look_ahead={self.look_ahead}.")
        check(self.target in TARGET_METHODS,
              f"target must be one of {TARGET_METHODS}, but got target={self.target!r}.")
        check(self.cs_rank_min_tickers >= 2,
              f"cs_rank_min_tickers must be >= 2, but got cs_rank_min_tickers={self.cs_rank_min_tickers}.")
        check(0.0 <= self.resample_lower < self.resample_upper <= 1.0,
              "resample_lower and resample_upper must satisfy 0 <= lower < upper <= 1, but got "
              f"resample_lower={self.resample_lower}, resample_upper={self.resample_upper}.")
        check(self.resample_bins >= 2, f"resample_bins must be >= 2, but got resample_bins={self.resample_bins}.")
        check(0.0 < self.train_frac < 1.0, f"train_frac must be in (0, 1), but got train_frac={self.train_frac}.")
        check(0.0 < self.val_frac < 1.0, f"val_frac must be in (0, 1), but got val_frac={self.val_frac}.")
        check(self.train_frac + self.val_frac < 1.0,
              f"train_frac + val_frac must be < 1 to leave a test period, but got {self.train_frac} + {self.val_frac}.")
        for key in ("train_end", "val_end"):
            value = getattr(self, key)
            if value is not None:
                import datetime as _dt
                try:
                    _dt.date.fromisoformat(value)
                except ValueError:
                    check(False, f"{key} must be a date YYYY-MM-DD, but got {key}={value!r}.")
        check((self.train_end is None) == (self.val_end is None),
              "train_end and val_end must be given together (or neither, to use train_frac/val_frac).")
        check(self.train_end is None or self.train_end < self.val_end,  # type: ignore[operator]
              f"train_end must be before val_end, but got train_end={self.train_end}, val_end={self.val_end}.")
        check(self.purge_gap is None or self.purge_gap >= self.look_ahead,
              f"purge_gap must be >= look_ahead ({self.look_ahead}) so no training target overlaps a "
              f"validation window, but got purge_gap={self.purge_gap}.")
        check(self.embargo >= 0, f"embargo must be >= 0, but got embargo={self.embargo}.")
        check(self.max_halt_days >= 0, f"max_halt_days must be >= 0, but got max_halt_days={self.max_halt_days}.")
        check(self.adjust in ("auto", "none"), f"adjust must be 'auto' or 'none', but got adjust={self.adjust!r}.")
        check(self.decimal in (None, ",", "."),
              f'decimal must be "," or ".", but got decimal={self.decimal!r}.')
        check(self.date_format is None or all(k in self.date_format for k in ("%d", "%m"))
              and ("%Y" in self.date_format or "%y" in self.date_format),
              f'date_format must name the day, month and year (e.g. "%d/%m/%Y" or "%m/%d/%y"), but got '
              f"date_format={self.date_format!r}.")
        check(self.resample in (None, "daily"),
              f'resample must be "daily" (or left out for daily input), but got resample={self.resample!r}.')

    @property
    def gap_days(self) -> int:
        """Trading days left out between consecutive splits."""
        return (self.look_ahead if self.purge_gap is None else self.purge_gap) + self.embargo

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, where: str = "[data]") -> PrepConfig:
        return from_mapping(cls, mapping, where)

    def to_mapping(self) -> dict[str, Any]:
        return to_mapping(self)
