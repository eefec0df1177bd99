"""Study storage (SQLite or PostgreSQL) and the shared artifact store.

SQLite is the zero-setup default: WAL journal, a 60 s busy timeout and BEGIN IMMEDIATE
transactions (set on every pooled connection) so that several local workers plus an open
dashboard queue for the write lock instead of failing with "database is locked". PostgreSQL is
the multi-machine backend: ``pool_pre_ping`` and a small pool so a server restart costs a
reconnect, not a trial. Both get Optuna's heartbeat with a retry callback, so a trial whose
worker died is re-queued with the same params (and resumes from its checkpoint).
"""
from __future__ import annotations

import logging
import random
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, ProgrammingError

from .retry import with_retries
from .study_config import StudyConfig
from .urls import sqlite_path

__all__ = ["open_storage", "artifact_store", "retry_callback"]

log = logging.getLogger("stocktune.storage")


def _sqlite_tuning(engine: Any) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front and waits on busy_timeout; a deferred transaction
        # that upgrades from read to write gets SQLITE_BUSY at once, with no wait.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=3, inherit_intermediate_values=True)


def open_storage(url: str, heartbeat_interval: int | None = 10, grace_period: int | None = 30) -> RDBStorage:
    """An RDBStorage tuned for concurrent workers; retried while the database is unreachable."""
    kwargs: dict[str, Any]
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # WAL is a property of the file: set it before the first SQLAlchemy connection
        def set_wal() -> None:
            with sqlite3.connect(path, timeout=60) as c:
                c.execute("PRAGMA journal_mode = WAL")
        with_retries(set_wal, "opening the SQLite file")
        kwargs = {"connect_args": {"timeout": 60}}
    else:
        kwargs = {"pool_pre_ping": True, "pool_size": 2, "max_overflow": 4, "pool_recycle": 1800,
                  "connect_args": {"connect_timeout": 10}}

    def make() -> RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            hb = {} if heartbeat_interval is None else dict(
                heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                heartbeat_stale_trial_callback=retry_callback())
            for attempt in range(5):
                try:
                    return RDBStorage(url, engine_kwargs=kwargs, **hb)
                except (IntegrityError, ProgrammingError) as e:
                    # several workers creating the schema of a fresh PostgreSQL database at once: the
                    # losers' CREATE TYPE/TABLE or alembic stamp hits the winner's (UniqueViolation /
                    # DuplicateTable).
                    # create_all is one transaction and checks first, so a retry finds it complete.
                    if attempt == 4 or not any(m in str(e) for m in ("already exists", "duplicate key")):
                        raise
                    log.info("another worker is creating the storage schema; retrying")
                    time.sleep(0.5 + random.random())
            raise AssertionError("unreachable")

    storage = with_retries(make, "connecting to the study storage")
    if path is not None:
        _sqlite_tuning(storage.engine)
        storage.engine.dispose()  # connections opened during construction predate the events
    return storage


def artifact_store(cfg: StudyConfig) -> optuna.artifacts.FileSystemArtifactStore:
    """The shared artifact store under <artifacts>/store (the dashboard reads the same one)."""
    root = Path(cfg.artifacts) / "store"
    root.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(str(root))
