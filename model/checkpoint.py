"""Checkpoints: a plain dict of state dicts, counters and RNG states, written atomically.

Everything in it is a tensor, a number, a string or a list/dict of those, so that it loads with
``torch.load(weights_only=True)`` (no pickled code runs when a checkpoint is opened).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from common.errors import InputError
from common.files import write_atomic

__all__ = ["save_atomic", "load_checkpoint"]


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save through a temp file + os.replace: a crash mid-write never leaves a torn checkpoint."""
    return write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with weights_only=True; InputError when it is missing or not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist; pass a file written by `stocktune fit` or a worker.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise InputError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e}).") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise InputError(f"{path} is not a stocktune training checkpoint (no 'model'/'epoch' entries).")
    return ckpt
