"""What `worker`, `launch` and `tune` check before any work: the storage and the device.

A study that cannot run must say so in one line (exit 2) before the dataset is prepared and before a
trial starts: a wrong password or an unwritable SQLite path used to surface as a traceback after the
cache was built, and a missing GPU as every trial FAILing until the budget was burnt.
"""
from __future__ import annotations

import re

from common.errors import InputError

from .space import Fixed
from .storage import check_storage
from .study_config import StudyConfig

__all__ = ["preflight", "study_device"]


def study_device(cfg: StudyConfig) -> tuple[str, str]:
    """(the device every trial trains on, the table that sets it): a fixed [search] value wins over [train]."""
    dim = cfg.search.get("device")
    if isinstance(dim, Fixed):
        return str(dim.value), "[search]"
    return str(cfg.train.get("device", "auto")), "[train]"


def preflight(cfg: StudyConfig, launching: bool = False) -> None:
    """InputError unless the study's storage opens and its device exists here.

    ``launching``: `launch` gives each worker one GPU through CUDA_VISIBLE_DEVICES, where it is cuda:0,
    so an explicit cuda:N with N > 0 cannot work there.
    """
    check_storage(cfg.storage)
    device, table = study_device(cfg)
    if device in ("auto", "cpu"):
        return
    from model.devices import check_device  # imports torch: only for an explicit CUDA device

    check_device(device, f"{cfg.path}, {table}")
    m = re.fullmatch(r"cuda:(\d+)", device)
    if launching and m and int(m.group(1)) > 0:
        raise InputError(f"device = {device!r} cannot work under `launch`, which gives each worker one GPU through "
                         f"CUDA_VISIBLE_DEVICES (each worker sees it as cuda:0); write device = \"cuda\" or \"auto\" "
                         f"({cfg.path}, {table}).")
