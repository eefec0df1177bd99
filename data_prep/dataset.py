"""The prepared dataset as every consumer sees it: a directory of .npy files plus meta.json.

This module is the contract between data_prep (which writes the directory) and model/tuner (which
read it). The arrays are opened with ``mmap_mode="r"`` so that many worker processes share one
copy through the page cache, and windows are never materialized: a sample is described by the
row index of its last day (``end_idx``); the model gathers rows ``end_idx-look_back+1 .. end_idx``.

Directory layout (all written atomically by ``data_prep.cache``):

    features.npy        float32 [n_rows, n_features]  scaled into [-1, 1], rows sorted by (ticker, date)
    ticker.npy          int32   [n_rows]              index into meta["tickers"]
    date.npy            datetime64[D] [n_rows]
    {split}_end.npy     int64   [n_windows]           window end rows; split in {train, val, test}
    {split}_target.npy  float32 [n_windows]           rise probability in [0, 1]
    {split}_ret.npy     float32 [n_windows]           raw forward log return over look_ahead days
    meta.json           feature_names, tickers, look_back, look_ahead, prep (settings), scaler,
                        target_transform, splits (date ranges), cache_key, ...
    report.json, report.md, *.png
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import InputError

SPLITS: tuple[str, ...] = ("train", "val", "test")

__all__ = ["SPLITS", "SplitArrays", "PreparedDataset", "gap_days_of"]


def gap_days_of(meta: dict[str, Any]) -> int:
    """Trading days between consecutive splits that no window touches (purge gap + embargo) of a
    prepared dataset's meta.json. The rule is ``PrepConfig.gap_days``; prep records its value."""
    if "purge_gap_days" in meta:
        return int(meta["purge_gap_days"])
    from .config import PrepConfig

    return PrepConfig.from_mapping(meta.get("prep", {}), "meta.json, prep").gap_days


@dataclass(frozen=True)
class SplitArrays:
    """The windows of one split: where each ends, its target and its raw forward return."""

    end_idx: np.ndarray  # int64 [n]
    target: np.ndarray  # float32 [n], in [0, 1]
    ret: np.ndarray  # float32 [n], forward log return (for realized-rise checks)

    def __len__(self) -> int:
        return int(self.end_idx.shape[0])


@dataclass(frozen=True)
class PreparedDataset:
    """A loaded (memory-mapped) dataset; cheap to open, never copied per worker."""

    path: Path
    features: np.ndarray  # float32 [n_rows, n_features], memmap
    ticker: np.ndarray  # int32 [n_rows]
    date: np.ndarray  # datetime64[D] [n_rows]
    splits: dict[str, SplitArrays]
    meta: dict[str, Any] = field(repr=False)

    @property
    def look_back(self) -> int:
        return int(self.meta["look_back"])

    @property
    def look_ahead(self) -> int:
        return int(self.meta["look_ahead"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.meta["feature_names"])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def tickers(self) -> list[str]:
        return list(self.meta["tickers"])

    @property
    def gap_days(self) -> int:
        return gap_days_of(self.meta)

    @property
    def cache_key(self) -> str:
        return str(self.meta.get("cache_key", ""))

    def split(self, name: str) -> SplitArrays:
        if name not in self.splits:
            raise InputError(f"split must be one of {sorted(self.splits)}, but got split={name!r} ({self.path}).")
        return self.splits[name]

    def window_dates(self, name: str) -> np.ndarray:
        """The date of each window's last row (the day the prediction is made)."""
        return self.date[self.split(name).end_idx]

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> PreparedDataset:
        """Open a prepared dataset directory; arrays are memory-mapped unless ``mmap=False``."""
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise InputError(
                f"{path} is not a prepared dataset (no meta.json); run `stocktune prep` to build it."
            )
        meta = json.loads(meta_file.read_text())
        mode = "r" if mmap else None

        def arr(name: str) -> np.ndarray:
            return np.load(path / f"{name}.npy", mmap_mode=mode, allow_pickle=False)

        splits = {
            s: SplitArrays(arr(f"{s}_end"), arr(f"{s}_target"), arr(f"{s}_ret"))
            for s in SPLITS
            if (path / f"{s}_end.npy").exists()
        }
        return cls(path=path, features=arr("features"), ticker=arr("ticker"), date=arr("date"),
                   splits=splits, meta=meta)

    @classmethod
    def from_arrays(
        cls,
        features: np.ndarray,
        ticker: np.ndarray,
        date: np.ndarray,
        splits: dict[str, SplitArrays],
        meta: dict[str, Any],
        path: str | Path = "<memory>",
    ) -> PreparedDataset:
        """Build an in-memory dataset (tests and the model's own harness use this)."""
        meta = {"feature_names": [f"f{i}" for i in range(features.shape[1])], **meta}
        return cls(Path(path), np.asarray(features, np.float32), np.asarray(ticker, np.int32),
                   np.asarray(date, "datetime64[D]"), splits, meta)
