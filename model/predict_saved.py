"""`stocktune predict`: every ticker's rise probability from a model directory (``model_dir``) on new
data, featurized with the scaler stored in the directory (nothing is refitted on the new data).

An ensemble answers with the mean of its members' probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import data_prep

from .devices import check_device, use_threads
from .model_dir import check_model_dir, load_model_dir

__all__ = ["TickerScore", "Prediction", "predict_model_dir"]


@dataclass(frozen=True)
class TickerScore:
    """One ticker's rise probability, as a 0-100 score and its rank (1 = highest)."""

    rank: int
    ticker: str
    score: float
    probability: float

    def to_json(self) -> dict[str, Any]:
        return {"ticker": self.ticker, "score": self.score, "probability": self.probability, "rank": self.rank}


@dataclass(frozen=True)
class Prediction:
    """What `predict` found: the scores (highest first) and the tickers skipped with their reason."""

    date: str
    look_ahead: int
    scores: tuple[TickerScore, ...]
    skipped: tuple[dict[str, str], ...]  # {"ticker", "reason"}, as data_prep.prediction_rows gives them

    def to_json(self, model_dir: str, source: str, top: int | None = None) -> dict[str, Any]:
        """`predict --format json`'s document (``top``: only the highest ``top`` scores)."""
        return {"date": self.date, "look_ahead": self.look_ahead, "model_dir": model_dir, "source": source,
                "n_scored": len(self.scores), "predictions": [s.to_json() for s in self.scores[:top]],
                "skipped": list(self.skipped)}


def predict_model_dir(model_dir: str | Path, source: str, day: np.datetime64 | None = None,
                      device: str | None = None, threads: int | None = None) -> Prediction:
    """Every ticker's rise probability for the window ending on ``day`` (default: the latest date),
    computed with ``threads`` CPU threads, highest first.

    All input checks run before the model is loaded (torch only for an explicit CUDA --device).
    """
    info = check_model_dir(model_dir)
    if device is not None:
        check_device(device, "--device")
    dataset = data_prep.featurize_for_inference(source, info.meta)
    if day is None:
        day = np.asarray(dataset.date, "datetime64[D]").max() if len(dataset.date) else np.datetime64("NaT")
    rows, skipped = data_prep.prediction_rows(dataset, day)
    if threads is not None:
        use_threads(threads)
    saved = load_model_dir(info)
    from .inference import predict

    prob = np.asarray(predict(saved.net, dataset, rows, batch_size=saved.eval_batch_size, device=device), np.float64)
    names = dataset.tickers
    ranked = sorted(((names[int(dataset.ticker[r])], float(p)) for r, p in zip(rows, prob)), key=lambda t: (-t[1], t[0]))
    scores = tuple(TickerScore(i, ticker, round(100.0 * p, 2), p) for i, (ticker, p) in enumerate(ranked, 1))
    return Prediction(str(day), dataset.look_ahead, scores, tuple(skipped))
