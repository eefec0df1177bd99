"""Where a model runs: the device check that comes before any data is read, and torch's CPU threads.

Used by the refit, the evaluation and the prediction of a saved model, and by the tuner's preflight;
it lives apart from them so that none of those imports another to reach it.
"""
from __future__ import annotations

from common.errors import InputError

__all__ = ["check_device", "use_threads"]


def check_device(device: str, where: str) -> None:
    """InputError naming ``where`` unless ``device`` exists on this machine (``train.resolve_device``'s
    rule); called before any data is read, so a missing GPU costs nothing. "auto"/"cpu" need no torch."""
    if device in ("auto", "cpu"):
        return
    from .train import resolve_device  # imports torch: only for an explicit CUDA device

    try:
        resolve_device(device)
    except InputError as e:
        raise InputError(f"{str(e).rstrip('.')} ({where}).") from None


def use_threads(threads: int) -> None:
    """torch's intra-op threads for this process, always set explicitly (the rule: common/cpus.py)."""
    import torch

    torch.set_num_threads(threads)
