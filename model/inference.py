"""Batched inference over window end rows (evaluation, `stocktune evaluate`/`predict`)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from data_prep.dataset import PreparedDataset

from .batches import feature_tensor, gather_windows

__all__ = ["predict", "predict_features", "cpu_batch_size", "CPU_EVAL_BYTES"]


# activations of one evaluation batch on the CPU stay below this (see cpu_batch_size)
CPU_EVAL_BYTES = 32 << 20


def cpu_batch_size(batch_size: int, look_back: int, n_features: int, hidden_dim: int) -> int:
    """The evaluation batch on the CPU: ``batch_size`` capped so that one batch's activations (the gathered
    windows, their time-major copy and a layer's hidden states, ~8 bytes x look_back x (features + hidden)
    per window) stay under CPU_EVAL_BYTES. A 16,384-window batch (krx_scale's, sized for a GPU) held
    0.6-1.7 GB per worker at hidden 16-64; on the CPU batches of 512-2,048 evaluate as fast or faster
    (measured 1 thread: hidden 64, 8.9k windows/s at 512 vs 5.1k at 16,384)."""
    per_window = 8 * look_back * (n_features + hidden_dim)
    return max(64, min(batch_size, CPU_EVAL_BYTES // max(per_window, 1)))


@torch.inference_mode()
def predict_features(net: nn.Module, features: torch.Tensor, end_idx: torch.Tensor, look_back: int,
                     batch_size: int = 8192, autocast: bool = False) -> np.ndarray:
    """Predictions [n] for windows ending at ``end_idx``, computed in big no-grad batches (on the CPU
    at most ``cpu_batch_size`` windows at a time)."""
    was_training = net.training
    net.eval()
    if not features.is_cuda:
        batch_size = cpu_batch_size(batch_size, look_back, int(features.shape[1]), int(getattr(net, "hidden_dim", 0)))
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
