"""Windows gathered by index: a batch is one ``take`` from the feature matrix, never per-sample Python.

A window of look-back L ending at row t is rows t-L+1 .. t of the (ticker, date)-sorted feature
matrix (data_prep guarantees these rows belong to one ticker). For a batch of end rows we build the
index [B, L] = end[:, None] + arange(-L+1, 1) and take once.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from common.errors import InputError
from data_prep.dataset import PreparedDataset

__all__ = ["feature_tensor", "gather_windows", "check_windows"]


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
    end = np.asarray(dataset.split(split).end_idx)
    if end.size and (end.min() < dataset.look_back - 1 or end.max() >= dataset.features.shape[0]):
        raise InputError(
            f"split {split!r} of {dataset.path} has window end rows outside [look_back-1, n_rows) = "
            f"[{dataset.look_back - 1}, {dataset.features.shape[0]}); rebuild it with `stocktune prep`."
        )
