"""The dataset report as a typed value: what went in, what came out, what was changed or left out.

Callers in other packages (the CLI summary, the study note, the benches) read attributes, so a
renamed field fails where it is defined, not at run time two packages away. ``to_json`` is the one
way to report.json and ``from_json`` the one way back; meta.json takes the fields it shares with
the report from ``meta_fields`` instead of repeating them.

report.json format: version 2 adds ``report_version``, ``weekend_rows`` and ``input_notes`` (and
adjustments with ``method = "unit_change"``) to version 1; every version-1 key is unchanged, and ``from_json``
reads version-1 files (a missing key takes its default).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["REPORT_VERSION", "SplitReport", "DatasetReport"]

REPORT_VERSION = 2


def _nan() -> float:
    return math.nan


@dataclass(frozen=True)
class SplitReport:
    """One split's period, counts, target uniformity and realized returns."""

    start: str = ""
    end: str = ""
    first_window_end: str = ""
    last_window_end: str = ""
    n_windows: int = 0
    n_tickers: int = 0
    n_dates: int = 0
    target_mean: float = field(default_factory=_nan)
    target_ks_stat: float = field(default_factory=_nan)
    target_ks_p: float = field(default_factory=_nan)
    target_ks_n: int = 0
    rise_rate: float = field(default_factory=_nan)
    ret_mean: float = field(default_factory=_nan)
    ret_std: float = field(default_factory=_nan)
    volatility_median: float = field(default_factory=_nan)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitReport:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class DatasetReport:
    """report.json as a value. Lists hold one JSON-able dict per ticker or event (their keys are
    documented in docs/prep.md and docs/data-input.md)."""

    source: str = ""
    cache_key: str = ""
    n_rows: int = 0
    n_tickers: int = 0  # tickers with at least one window
    tickers_in_input: int = 0
    date_range: tuple[str, str] = ("", "")
    features: tuple[str, ...] = ()
    look_back: int = 0
    look_ahead: int = 0
    target_method: str = ""
    purge_gap_days: int = 0
    splits: Mapping[str, SplitReport] = field(default_factory=dict)
    adjustments: list[dict] = field(default_factory=list)  # splits/merges, then unit changes
    repairs: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    no_volume: list[str] = field(default_factory=list)
    weekend_rows: list[dict] = field(default_factory=list)
    input_notes: list[dict] = field(default_factory=list)  # day/month order decided, folder entries not read
    prep: Mapping[str, Any] = field(default_factory=dict)
    timings_s: Mapping[str, float] = field(default_factory=dict)
    cpu_s: Mapping[str, float] = field(default_factory=dict)
    peak_rss_mb: Mapping[str, float] = field(default_factory=dict)
    report_version: int = REPORT_VERSION

    @property
    def unit_changes(self) -> list[dict]:
        """The adjustments that undid a change of units (a ticker quoted ×100 from one day on)."""
        return [a for a in self.adjustments if a.get("method") == "unit_change"]

    def with_source(self, source: str) -> DatasetReport:
        """This report naming ``source``: a cache hit reports the source its caller gave, not the first build's.

        The rows named in repairs, skipped reasons and weekend rows ('data/AAA.csv, line 7') are
        moved to the new source too: the same bytes, so the same file names and lines under it.
        """
        if not source or source == self.source:
            return self
        old, new = self.source.rstrip("/"), source.rstrip("/")

        def moved(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace(old + "/", new + "/").replace(old + ",", new + ",")
            if isinstance(value, list):
                return [moved(v) for v in value]
            if isinstance(value, dict):
                return {k: moved(v) for k, v in value.items()}
            return value

        return replace(self, source=source, repairs=moved(self.repairs), skipped=moved(self.skipped),
                       weekend_rows=moved(self.weekend_rows), input_notes=moved(self.input_notes))

    def to_json(self) -> dict[str, Any]:
        """The report.json object (version ``report_version``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "splits":
                v = {s: {g.name: getattr(sp, g.name) for g in fields(sp)} for s, sp in v.items()}
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetReport:
        """A report from report.json (any version; unknown keys are ignored, missing ones take defaults)."""
        names = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in names}
        kw["splits"] = {s: SplitReport.from_json(sp) for s, sp in (data.get("splits") or {}).items()}
        if "date_range" in kw:
            kw["date_range"] = tuple(kw["date_range"])
        if "features" in kw:
            kw["features"] = tuple(kw["features"])
        kw.setdefault("report_version", 1)
        return cls(**kw)

    def meta_fields(self) -> dict[str, Any]:
        """The values meta.json shares with the report, under meta.json's names."""
        return {"feature_names": list(self.features), "look_back": self.look_back, "look_ahead": self.look_ahead,
                "prep": dict(self.prep), "source": self.source, "cache_key": self.cache_key,
                "target_method": self.target_method, "purge_gap_days": self.purge_gap_days, "n_rows": self.n_rows,
                "splits": {s: {"start": sp.start, "end": sp.end, "n_windows": sp.n_windows}
                           for s, sp in self.splits.items()}}
