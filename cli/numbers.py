"""The one argparse type of every count option (--workers, --threads, --top-k, --seeds, --n-trials, ...).

A count of 0 or less never means "the default": argparse rejects it, naming the flag, with exit 2
(``stocktune confirm: error: argument --top-k: must be a whole number >= 1, but got 0``), before any
file is read or any data prepared. An option left out is None, and the command takes the default
from the config dataclass that owns it.
"""
from __future__ import annotations

import argparse

__all__ = ["count"]


def count(text: str) -> int:
    """argparse ``type=``: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, but got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, but got {value}")
    return value
