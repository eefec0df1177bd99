"""Retries with backoff around storage calls, so a database restart or a busy SQLite file only
delays a worker instead of failing its trial.

Optuna's RDB storage turns SQLAlchemy errors into ``StorageInternalError``; a lost connection
shows up as ``OperationalError``/``InterfaceError``. Those are transient: we retry them with
exponential backoff up to ``max_wait`` seconds. Anything else (a bug, a bad value) is raised at
once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import optuna
from sqlalchemy import exc as sa_exc

__all__ = ["is_transient", "with_retries", "DEFAULT_MAX_WAIT"]

T = TypeVar("T")
log = logging.getLogger("stocktune.storage")

DEFAULT_MAX_WAIT = 300.0  # seconds: longer than a PostgreSQL restart or failover


def is_transient(e: BaseException) -> bool:
    """A database that is down, restarting, or (SQLite) locked by another writer."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                          sa_exc.TimeoutError)):
            return True
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        name = type(e).__name__
        if name in ("OperationalError", "InterfaceError", "ConnectionTimeout", "PoolTimeout"):
            return True  # psycopg / sqlite3 raw errors
        if isinstance(e, ConnectionError):
            return True
        e = e.__cause__ or e.__context__  # StorageInternalError wraps the SQLAlchemy error
    return False


def with_retries(fn: Callable[[], T], what: str, max_wait: float = DEFAULT_MAX_WAIT,
                 on_retry: Callable[[BaseException], None] | None = None) -> T:
    """Call ``fn()``; on a transient database error wait (0.5 s doubling to 10 s) and call again."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            return fn()
        except (optuna.exceptions.StorageInternalError, sa_exc.SQLAlchemyError, ConnectionError, OSError) as e:
            if not is_transient(e) or waited >= max_wait:
                raise
            log.warning("storage unavailable during %s (%s); retrying in %.1fs", what,
                        str(e).splitlines()[0][:200], delay)
            if on_retry is not None:
                on_retry(e)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)
