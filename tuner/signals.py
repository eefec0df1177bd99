"""Stopping on SIGTERM/SIGINT, the same way in every long command (`tune`, `launch`, `confirm`, `worker`).

The first signal asks for a stop: a worker finishes its epoch, fails its trial with a reason and
re-queues it (another worker resumes it from its checkpoint); a launcher forwards the request to its
workers and waits for them; no new phase starts. The command then exits 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM), as a shell reports a command a signal ended, so `tune` and scripts
never mistake a stop for a finished study. Work with nothing to save (data preparation) stops at once
(``immediately``). A second signal stops at once everywhere: KeyboardInterrupt in a worker (its trial
is still failed and re-queued where it can be, else the heartbeat check re-queues it later).
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["StopFlag", "Stopped", "exit_code_of", "STOP_SIGNALS", "STOP_EXIT_CODES"]

log = logging.getLogger("stocktune.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_code_of(signum: int) -> int:
    """What a shell reports for a command a signal ended: 128 + the signal's number."""
    return 128 + int(signum)


STOP_EXIT_CODES = tuple(exit_code_of(s) for s in STOP_SIGNALS)  # 143, 130: a stop, not a crash


class Stopped(KeyboardInterrupt):
    """A stop that cannot wait (a second signal, or the first during data preparation); carries the
    command's exit code, so `cli.main` reports 143 for SIGTERM, not Ctrl-C's 130."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StopFlag:
    """Set by a signal (or by code); read by the worker loop, the per-epoch callback and the launcher."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.signum: int | None = None  # the first signal received, None when none (or set by code)
        self._signals = 0
        self._immediate = 0
        self.installed = False
        # set by a launcher while it has workers: each signal calls forward(signum, n) (n = 1 for the
        # first) instead of raising, so the stop reaches the workers and the launcher waits for them
        self.forward: Callable[[int, int], None] | None = None

    def __bool__(self) -> bool:
        return self._event.is_set()

    @property
    def exit_code(self) -> int | None:
        """128 + the first signal's number once a signal stopped the command, else None."""
        return None if self.signum is None else exit_code_of(self.signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "a stop request"

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if a stop was requested meanwhile."""
        return self._event.wait(seconds)

    def install(self) -> StopFlag:
        """Handle SIGTERM and SIGINT in this (main) thread."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        self.installed = True
        return self

    @contextmanager
    def immediately(self) -> Iterator[None]:
        """Within: the first signal raises KeyboardInterrupt at once (work with nothing to save)."""
        if self:
            raise Stopped(self.reason, self.exit_code or exit_code_of(signal.SIGINT))
        self._immediate += 1
        try:
            yield
        finally:
            self._immediate -= 1

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self._signals += 1
        first = self._signals == 1
        if first:
            self.signum = signum
            self.set(f"stopped by {name}")
        if self.forward is not None:
            self.forward(signum, self._signals)
            return
        if not first or self._immediate:
            raise Stopped(f"{'second ' if not first else ''}{name}", exit_code_of(self.signum or signum))
        log.warning("%s received: stopping after the current epoch (send again to stop now)", name)
