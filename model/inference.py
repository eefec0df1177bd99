"""Batched inference over window end rows (evaluation, `stocktune evaluate`/`predict`)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from data_prep.dataset import PreparedDataset

from .batches import feature_tensor, gather_windows

__all__ = ["predict", "predict_features"]


@torch.inference_mode()
def predict_features(net: nn.Module, features: torch.Tensor, end_idx: torch.Tensor, look_back: int,
                     batch_size: int = 8192, autocast: bool = False) -> np.ndarray:
    """Predictions [n] for windows ending at ``end_idx``, computed in big no-grad batches."""
    was_training = net.training
    net.eval()
    out = np.empty(int(end_idx.shape[0]), np.float32)
    try:
        for lo in range(0, out.shape[0], batch_size):
            x = gather_windows(features, end_idx[lo: lo + batch_size], look_back)  # [b, L, F]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast and features.is_cuda):
                out[lo: lo + x.shape[0]] = net(x).float().cpu().numpy()
    finally:
        net.train(was_training)
    return out


def predict(net: nn.Module, dataset: PreparedDataset, end_idx: np.ndarray, batch_size: int = 8192,
            device: str | torch.device | None = None) -> np.ndarray:
    """Rise probabilities for the windows of ``dataset`` ending at rows ``end_idx``.

    Runs on ``device`` (default: where the network's parameters are).
    """
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    net = net.to(dev)
    feats = feature_tensor(dataset, dev)
    end = torch.as_tensor(np.asarray(end_idx, np.int64), device=dev)
    return predict_features(net, feats, end, dataset.look_back, batch_size)
