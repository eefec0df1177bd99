"""A trained model on disk: weights, the TrainConfig and the dataset meta needed to featurize new data.

    model.pt           state_dict (loaded with weights_only=True)
    config.json        TrainConfig mapping (architecture included)
    dataset_meta.json  the prepared dataset's meta.json: scaler, target transform, feature names,
                       prep settings, source, cache_key -- what `predict` needs to rebuild inputs
    extra.json         anything the caller adds (best epoch, metrics, dataset dir, trial number...)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from common.errors import InputError
from common.files import write_json_atomic

from .checkpoint import save_atomic
from .config import TrainConfig
from .final import read_train_config
from .network import StockRNN, build_network

__all__ = ["save_model", "load_model", "LoadedModel"]


@dataclass
class LoadedModel:
    net: StockRNN
    cfg: TrainConfig
    meta: dict[str, Any]
    extra: dict[str, Any]


def save_model(directory: str | Path, net: StockRNN, cfg: TrainConfig, dataset_meta: dict[str, Any],
               extra: dict[str, Any] | None = None) -> Path:
    """Write the model directory (each file atomically; weights last-but-one, extra.json last)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_json_atomic(d / "config.json", cfg.to_mapping(), sort_keys=True)
    write_json_atomic(d / "dataset_meta.json", dataset_meta, sort_keys=True)
    save_atomic({k: v.detach().cpu() for k, v in net.state_dict().items()}, d / "model.pt")
    write_json_atomic(d / "extra.json", extra or {}, sort_keys=True)
    return d


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network from config.json + the feature count in dataset_meta.json, load weights."""
    d = Path(directory)
    for name in ("model.pt", "config.json", "dataset_meta.json"):
        if not (d / name).is_file():
            raise InputError(f"{d} is not a saved model (no {name}); create one with `stocktune fit --out DIR`.")
    cfg = read_train_config(d)
    meta = json.loads((d / "dataset_meta.json").read_text())
    extra = json.loads((d / "extra.json").read_text()) if (d / "extra.json").is_file() else {}
    net = build_network(cfg, len(meta["feature_names"]))
    state = torch.load(d / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.to(device).eval()
    return LoadedModel(net=net, cfg=cfg, meta=meta, extra=extra)
