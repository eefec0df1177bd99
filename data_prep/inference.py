"""Inputs for `stocktune predict`: the features of every row of new data, scaled with the STORED
scaler, and which rows may end a window to predict from.

Prediction windows follow the training windows' rule (``windows.window_ends``) for their input rows:
one ticker, past the feature warm-up, no long halt inside. Only the target, which lies in the
future, is not required. Refitting the scaler on new data would shift every feature the model saw.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.errors import InputError

from .adjust import adjust
from .config import PrepConfig
from .dataset import PreparedDataset, SplitArrays
from .features import WARMUP, compute_features
from .pipeline import events_for
from .scaling import apply as apply_scaler
from .sources import load_source
from .validate import validate
from .windows import row_starts, window_ends

__all__ = ["featurize_for_inference", "prediction_rows", "PREDICTABLE", "LATEST"]

PREDICTABLE = "predictable"  # split name: every row that may end a window to predict from
LATEST = "latest"  # split name: the last row of each ticker, when it is predictable


def featurize_for_inference(source: str, meta: dict[str, Any]) -> PreparedDataset:
    """Features of ALL rows of ``source`` (incl. the latest days without a target) with the stored scaler.

    Its splits (targets and returns NaN) are ``predictable`` and ``latest`` (see above); ``meta`` is
    the trained model's dataset meta, with this call's source, tickers and row count.
    """
    cfg = PrepConfig.from_mapping(meta.get("prep", {}), "dataset_meta.json, prep")
    raw = load_source(source, decimal=cfg.decimal)
    checked = validate(raw, WARMUP + cfg.look_back, cfg.resample)
    panel, _ = adjust(checked.panel, events_for(cfg, raw), cfg.adjust)
    feats = compute_features(panel)
    apply_scaler(feats, meta["scaler"], out=feats)
    starts = row_starts(panel)
    pos = np.arange(len(panel)) - starts[panel.ticker]
    feats[pos < WARMUP] = 0.0  # undefined warm-up rows: finite, never inside a window
    ends = window_ends(panel, cfg.look_back, cfg.look_ahead, WARMUP, cfg.max_halt_days, require_target=False)
    last = starts[1:][np.diff(starts) > 0] - 1
    latest = np.intersect1d(last, ends)

    def no_target(rows: np.ndarray) -> SplitArrays:
        nan = np.full(rows.shape, np.nan, dtype=np.float32)
        return SplitArrays(rows.astype(np.int64), nan, nan)

    new_meta = {**meta, "tickers": list(panel.tickers), "source": source, "n_rows": len(panel)}
    return PreparedDataset.from_arrays(feats, panel.ticker, panel.date,
                                       {PREDICTABLE: no_target(ends), LATEST: no_target(latest)}, new_meta)


def prediction_rows(dataset: PreparedDataset, day: np.datetime64) -> tuple[np.ndarray, list[dict[str, str]]]:
    """(rows ending a window on ``day``, one per ticker; skipped tickers with the reason), for a
    dataset from ``featurize_for_inference``. No ticker has a window on ``day``: InputError."""
    dates = np.asarray(dataset.date, "datetime64[D]")
    if dates.size == 0:
        raise InputError(f"{dataset.meta.get('source')} holds no rows to predict from.")
    if not (dates == day).any():
        raise InputError(f"--date {day} has no data in {dataset.meta.get('source')}; available dates run from "
                         f"{dates.min()} to {dates.max()} (trading days only).")
    ticker = np.asarray(dataset.ticker)
    names = dataset.tickers
    starts = np.searchsorted(ticker, np.arange(len(names) + 1))
    ok = np.zeros(ticker.shape[0], bool)
    ok[dataset.split(PREDICTABLE).end_idx] = True
    warmup, look_back = int(dataset.meta.get("warmup", WARMUP)), dataset.look_back
    max_halt = PrepConfig.from_mapping(dataset.meta.get("prep", {}), "dataset_meta.json, prep").max_halt_days
    on_day = np.flatnonzero(dates == day)
    rows, skipped = [], []
    has_day = np.zeros(len(names), bool)
    has_day[ticker[on_day]] = True
    for k in np.flatnonzero(~has_day):
        lo, hi = starts[k], starts[k + 1]
        span = f" (its data covers {dates[lo]} .. {dates[hi - 1]})" if hi > lo else ""
        skipped.append({"ticker": names[k], "reason": f"no data on {day}{span}"})
    for r in on_day:
        k = int(ticker[r])
        if ok[r]:
            rows.append(int(r))
        elif r - starts[k] - look_back + 1 < warmup:
            skipped.append({"ticker": names[k], "reason": f"history too short for a full {look_back}-day window "
                                                         f"after the feature warm-up on {day}"})
        else:
            skipped.append({"ticker": names[k], "reason": f"a halt of more than {max_halt} zero-volume days "
                                                         f"lies inside its {look_back}-day window ending {day}"})
    skipped.sort(key=lambda s: s["ticker"])
    if not rows:
        raise InputError(f"no ticker has a full {look_back}-day window ending on {day} ({len(skipped)} skipped: "
                         f"{', '.join(x['ticker'] for x in skipped[:5])}); pick a later --date.")
    return np.asarray(rows, np.int64), skipped
