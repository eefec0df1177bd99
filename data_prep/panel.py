"""The in-memory price panel passed between prep steps: flat numpy columns sorted by (ticker, date).

Plain arrays rather than a DataFrame so that every step can be vectorized over the whole panel
(10M rows) with per-ticker boundaries given by ``starts``; no step loops over rows in Python.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Panel"]


@dataclass(frozen=True)
class Panel:
    tickers: list[str]  # names; ticker codes index into this
    ticker: np.ndarray  # int32 [n], non-decreasing
    date: np.ndarray  # datetime64[D] [n], strictly increasing within a ticker
    open: np.ndarray  # float64 [n]
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # float64 [n], 0 on halted days
    # provenance for error messages: which input file and which 1-based data row each row came from
    file_id: np.ndarray | None = None  # int32 [n], index into files
    row: np.ndarray | None = None  # int64 [n]
    files: list[str] = field(default_factory=list)
    header_lines: list[int] = field(default_factory=list)  # per file: a CSV's header line (0: not a CSV); [] = all 1
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. adj_close / adj_factor columns when given
    line_maps: dict[int, np.ndarray] = field(default_factory=dict)  # per file: editor line of each data row (sources)

    def __len__(self) -> int:
        return int(self.ticker.shape[0])

    @property
    def starts(self) -> np.ndarray:
        """int64 [n_tickers + 1]: rows of ticker k are starts[k]:starts[k+1]."""
        return np.searchsorted(self.ticker, np.arange(len(self.tickers) + 1)).astype(np.int64)

    def take(self, idx: np.ndarray) -> Panel:
        """The panel restricted to rows ``idx`` (a sorted index or mask); ticker names are kept."""
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return replace(self, ticker=self.ticker[idx], date=self.date[idx], open=self.open[idx],
                       high=self.high[idx], low=self.low[idx], close=self.close[idx],
                       volume=self.volume[idx], file_id=pick(self.file_id), row=pick(self.row),
                       extra={k: v[idx] for k, v in self.extra.items()})
