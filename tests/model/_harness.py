"""The shared harness for model tests: a small in-memory dataset with a learnable target.

Each ticker's features are i.i.d. N(0, 1) (clipped to [-1, 1] after scaling by 1/3 like data_prep's
output range); the target of a window is Phi(mean of feature 0 over its last 5 rows * sqrt(5)), a
uniform rise probability that the window fully determines. Always-0.5 therefore scores MAE 0.25.
"""
from __future__ import annotations

import math

import numpy as np

from data_prep.dataset import PreparedDataset, SplitArrays
from model.config import TrainConfig

SIGNAL_ROWS = 5


def _phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def make_dataset(n_tickers: int = 4, n_days: int = 300, n_features: int = 4, look_back: int = 10,
                 seed: int = 0) -> PreparedDataset:
    """Rows sorted by (ticker, date); splits by date: 70% train, 15% val, 15% test (look_back rows apart)."""
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n_tickers, n_days, n_features))
    features = np.clip(raw / 3.0, -1.0, 1.0).astype(np.float32).reshape(-1, n_features)
    ticker = np.repeat(np.arange(n_tickers, dtype=np.int32), n_days)
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + n_days).astype("datetime64[D]")
    date = np.tile(days, n_tickers)
    signal = np.stack([np.convolve(raw[k, :, 0], np.ones(SIGNAL_ROWS) / SIGNAL_ROWS, mode="full")[:n_days]
                       for k in range(n_tickers)])  # mean of the last 5 rows ending at each day
    target_all = _phi(signal * math.sqrt(SIGNAL_ROWS)).astype(np.float32).reshape(-1)
    day_of_row = np.tile(np.arange(n_days), n_tickers)
    bounds = [look_back - 1, int(0.7 * n_days), int(0.85 * n_days), n_days]
    splits = {}
    for name, lo, hi in zip(("train", "val", "test"), bounds[:-1], bounds[1:]):
        end = np.flatnonzero((day_of_row >= lo + (look_back if name != "train" else 0)) & (day_of_row < hi))
        splits[name] = SplitArrays(end.astype(np.int64), target_all[end], (target_all[end] - 0.5).astype(np.float32))
    meta = {"look_back": look_back, "look_ahead": 1, "tickers": [f"T{k}" for k in range(n_tickers)],
            "cache_key": f"harness-{seed}", "scaler": {}, "target_method": "harness", "prep": {}}
    return PreparedDataset.from_arrays(features, ticker, date, splits, meta)


def tiny_cfg(**overrides) -> TrainConfig:
    """A model and budget small enough for a test to train several epochs in about a second."""
    base = dict(hidden_dim=16, num_layers=1, epochs=2, batch_size=64, samples_per_epoch=256,
                learning_rate=3e-3, warmup_ratio=0.0, device="cpu", threads=1, seed=0)
    return TrainConfig(**{**base, **overrides})
