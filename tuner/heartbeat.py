"""A trial's heartbeat, recorded by our own thread.

Optuna's own heartbeat thread dies on the first database error, after which a merely restarting
PostgreSQL would make the trial look dead and get it failed and retried. This thread logs the
error and tries again at the next interval, so an outage shorter than the grace period is
invisible to the study.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from optuna.storages import RDBStorage

__all__ = ["Heartbeat"]

log = logging.getLogger("stocktune.worker")


class Heartbeat:
    """``with Heartbeat(storage, trial_id, interval):`` records a heartbeat now and every interval."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: float) -> None:
        self._db, self._id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._beat()  # synchronously, so the trial is never RUNNING without a heartbeat for long
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _beat(self) -> None:
        try:
            self._db.record_heartbeat(self._id)
        except Exception as e:  # noqa: BLE001 - keep beating; the next interval may succeed
            log.warning("heartbeat for trial id %d failed (%s); retrying in %ss", self._id,
                        str(e).splitlines()[0][:200], self._interval)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()
