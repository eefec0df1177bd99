"""GRU/LSTM trainer on a prepared dataset (torch + data_prep only; never optuna).

Attributes are imported lazily (PEP 562) so that reading a config (``model.config``, used by every
CLI command to validate [train]) does not pay for importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from .config import TrainConfig

# public name -> submodule that defines it
_EXPORTS = {
    "StockRNN": "network", "build_network": "network",
    "fit": "train", "FitResult": "train", "NonFiniteLoss": "train", "resolve_device": "train",
    "ARCH_KEYS": "train", "TIMING_KEYS": "train",
    "predict": "inference",
    "save_model": "model_dir", "load_model": "model_dir", "LoadedModel": "model_dir",
    "lr_at": "schedule",
    "regression_metrics": "metrics", "rank_ic": "metrics",
    "save_atomic": "checkpoint", "load_checkpoint": "checkpoint",
}

__all__ = ["TrainConfig", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
