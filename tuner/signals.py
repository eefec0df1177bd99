"""Graceful stop on SIGTERM/SIGINT: set a flag that the training loop checks once per epoch.

The first signal asks the worker to stop after the current epoch (its trial is failed with a
reason and re-queued, so another worker resumes it from its checkpoint); a second signal raises
KeyboardInterrupt for an immediate stop.
"""
from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

__all__ = ["StopFlag"]

log = logging.getLogger("stocktune.worker")


class StopFlag:
    """Set by a signal (or by code); read by the worker loop and the per-epoch callback."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if a stop was requested meanwhile."""
        return self._event.wait(seconds)

    def install(self) -> StopFlag:
        """Handle SIGTERM and SIGINT in this (main) thread."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._event.is_set():
            raise KeyboardInterrupt(f"second {name}")
        log.warning("%s received: stopping after the current epoch (send again to stop now)", name)
        self.set(f"worker stopped by {name}")
