"""`stocktune predict`: every ticker's rise probability from a model directory (``model_dir``) on new
data, featurized with the scaler stored in the directory (nothing is refitted on the new data).

An ensemble answers with the mean of its members' probabilities.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import data_prep

from .devices import check_device, use_threads
from .model_dir import check_model_dir, load_model_dir

__all__ = ["predict_model_dir"]


def predict_model_dir(model_dir: str | Path, source: str, day: np.datetime64 | None = None,
                      device: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Every ticker's rise probability for the window ending on ``day`` (default: the latest date),
    computed with ``threads`` CPU threads.

    Returns {"date", "look_ahead", "scores" (highest first, with rank and a 0-100 score), "skipped"}.
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
    scores = [{"ticker": names[int(dataset.ticker[r])], "score": round(100.0 * float(p), 2), "probability": float(p)}
              for r, p in zip(rows, prob)]
    scores.sort(key=lambda d: (-d["probability"], d["ticker"]))
    for i, d in enumerate(scores, 1):
        d["rank"] = i
    return {"date": str(day), "look_ahead": dataset.look_ahead, "scores": scores, "skipped": skipped}
