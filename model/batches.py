"""Windows gathered by index: a batch is one ``take`` from the feature matrix, never per-sample Python.

A window of look-back L ending at row t is rows t-L+1 .. t of the (ticker, date)-sorted feature
matrix (data_prep guarantees these rows belong to one ticker). For a batch of end rows we build the
index [B, L] = end[:, None] + arange(-L+1, 1) and take once.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from common.errors import InputError
from data_prep.dataset import PreparedDataset

__all__ = ["feature_tensor", "gather_windows", "check_windows", "TrainWindows", "epoch_order"]


def feature_tensor(dataset: PreparedDataset, device: torch.device) -> torch.Tensor:
    """The feature matrix as a tensor: on the CPU it shares the memory map (no copy per worker, the page
    cache holds one); on CUDA it is copied to the device once so batches are gathered there."""
    with warnings.catch_warnings():
        # the memmap is read-only and we never write through the tensor
        warnings.simplefilter("ignore", UserWarning)
        feats = torch.from_numpy(np.asarray(dataset.features))
    if feats.dtype != torch.float32:
        feats = feats.float()
    return feats.to(device) if device.type != "cpu" else feats


def gather_windows(features: torch.Tensor, end_idx: torch.Tensor, look_back: int) -> torch.Tensor:
    """[n_rows, F] and end rows [B] -> windows [B, L, F]."""
    offsets = torch.arange(-look_back + 1, 1, device=end_idx.device)
    index = end_idx[:, None] + offsets  # [B] -> [B, L]
    return features[index]  # [B, L] -> [B, L, F]


def check_windows(dataset: PreparedDataset, split: str) -> None:
    """A window reaching before row 0 (or past the end) means the dataset is not what it claims."""
    end = dataset.split(split).end_idx  # a memory map or a fold's RangeColumn: min/max without a copy
    if len(end) and (end.min() < dataset.look_back - 1 or end.max() >= dataset.features.shape[0]):
        raise InputError(
            f"split {split!r} of {dataset.path} has window end rows outside [look_back-1, n_rows) = "
            f"[{dataset.look_back - 1}, {dataset.features.shape[0]}); rebuild it with `stocktune prep`."
        )


class TrainWindows:
    """End rows and targets of the training windows, gathered per batch by position.

    On the CPU they stay where they are (the memory-mapped split arrays, or a fold's ``RangeColumn``
    over them): a batch reads its B positions, so a worker holds no copy of the windows it trains on
    (5.2M windows at full size: 62 MB of end rows + targets per trial). On CUDA they are copied to the
    device once per fit, so a step never waits for the host.
    """

    def __init__(self, end_idx: Any, target: Any, device: torch.device) -> None:
        self.size = len(end_idx)
        self.on_device = device.type != "cpu"
        if self.on_device:
            self.end: Any = torch.from_numpy(np.asarray(end_idx, np.int64)).to(device)
            self.target: Any = torch.from_numpy(np.asarray(target, np.float32)).to(device)
        else:
            self.end, self.target = end_idx, target

    def batch(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(end rows [B], targets [B]) of the windows at positions ``pos`` (on the training device)."""
        if self.on_device:
            return self.end[pos], self.target[pos]
        p = pos.numpy()
        return (torch.from_numpy(np.asarray(self.end[p], np.int64)),
                torch.from_numpy(np.asarray(self.target[p], np.float32)))


def epoch_order(seed: int, epoch: int, n: int, k: int) -> np.ndarray:
    """Positions of the ``k`` training windows of ``epoch``, in order: a uniform random k-subset of the
    ``n`` windows, from a generator seeded with (seed, epoch) (so a resumed run draws the same).

    With k < n it draws O(k) numbers (``Generator.choice``: Floyd's algorithm, or a shuffle of the last
    k of an arange when k > n / 50), not a permutation of every window: at full size, 200,000 of 5.2M
    windows cost ~25 ms per epoch instead of ~270 ms, and hold k int64 instead of n. With k = n it is
    ``permutation(n)`` in int32 (half the buffer, the same draws)."""
    rng = np.random.default_rng([seed, epoch])
    if k < n:
        return rng.choice(n, k, replace=False)
    order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    rng.shuffle(order)
    return order
