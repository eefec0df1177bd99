"""Content-addressed dataset cache: built once, atomically, shared by every worker via mmap.

The key hashes the input's content key (from ``load_source``), the PrepConfig mapping and
PREP_VERSION, so any change in data, settings or prep code yields a new directory and a stale
dataset is never reused. A build goes into a temp directory beside the final one and is renamed
into place, so readers see either nothing or a complete dataset. A file lock per key makes
concurrent workers build it once: the others wait on the lock, then find it and load it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

__all__ = ["PREP_VERSION", "cache_key", "is_complete", "build_once", "save_array", "open_array"]

# bump when the prep code changes what it writes, so old cache entries are not reused
PREP_VERSION = "4"  # 4: unit changes, stale weekend rows, constant prices, report_version 2


def cache_key(content_key: str, prep: Mapping[str, Any]) -> str:
    """A short, stable hash of (input content, prep settings, prep version)."""
    blob = json.dumps({"content": content_key, "prep": dict(prep), "version": PREP_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_complete(path: Path) -> bool:
    """A dataset directory is complete once it exists: it only appears by rename after meta.json."""
    return (path / "meta.json").is_file()


def save_array(path: Path, name: str, arr: np.ndarray) -> None:
    np.save(path / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)


def open_array(path: Path, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A writable memory map of a new ``name.npy`` in ``path`` (a build's temp dir), to compute into.

    The pages go to the page cache as they are written (no in-memory copy, no second write); no
    flush/fsync either, like ``np.save``: readers of the renamed directory see the same pages.
    """
    arr = np.lib.format.open_memmap(path / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
    mm = getattr(arr, "_mmap", None)
    if mm is not None and arr.nbytes > (64 << 20):
        try:  # fault all pages in with one call instead of one fault per 4 KB page (Linux >= 5.14)
            mm.madvise(_MADV_POPULATE_WRITE)
        except (OSError, ValueError, AttributeError):
            pass
    return arr


_MADV_POPULATE_WRITE = 23


def build_once(cache_root: Path, key: str, build: Callable[[Path], None],
               lock_timeout: float = 3600.0) -> tuple[Path, bool]:
    """Return (dataset dir, cached); ``build(tmp_dir)`` writes a complete dataset into tmp_dir.

    Only the process holding the lock builds; a failed build leaves no directory behind.
    """
    final = cache_root / key
    if is_complete(final):
        return final, True
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root / f".{key}.lock"), timeout=lock_timeout):
        if is_complete(final):  # another process built it while we waited
            return final, True
        tmp = cache_root / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            build(tmp)
            if final.exists():  # a broken leftover (no meta.json): replace it
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final, False
