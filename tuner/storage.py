"""Study storage (SQLite or PostgreSQL), the shared artifact store, and URL masking.

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
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, ProgrammingError

from common.errors import InputError

from .retry import with_retries

if TYPE_CHECKING:
    from .study_config import StudyConfig

__all__ = ["mask_url", "validate_storage_url", "open_storage", "load_or_create_study", "artifact_store",
           "retry_callback", "sqlite_path"]

log = logging.getLogger("stocktune.storage")


def mask_url(url: str) -> str:
    """postgresql+psycopg://user:secret@host/db -> postgresql+psycopg://user:***@host/db."""
    try:
        u = make_url(url)
    except Exception:
        # unparseable: hide anything between '://' and '@' rather than risk printing a password
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return url
    if u.password is None:
        return u.render_as_string(hide_password=False)
    return u.render_as_string(hide_password=True)


def validate_storage_url(url: str, where: str) -> str:
    """Accept sqlite:///PATH and postgresql[+psycopg]://...; return the URL to use (psycopg 3 driver)."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise InputError(f"storage must be a URL like sqlite:///runs/NAME/study.db or "
                         f"postgresql+psycopg://user:pass@host:5432/db, but got storage={mask_url(url)!r} ({where}).") from None
    if u.get_backend_name() == "sqlite":
        if u.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise InputError(f"storage uses the unsupported SQLite driver {u.drivername!r}; write sqlite:///PATH ({where}).")
        if not u.database or u.database == ":memory:":
            raise InputError(f"storage must name a SQLite file that every worker can open (sqlite:///runs/NAME/study.db), "
                             f"but got storage={mask_url(url)!r} ({where}).")
        return url
    if u.get_backend_name() == "postgresql":
        if u.drivername not in ("postgresql", "postgresql+psycopg"):
            raise InputError(f"storage uses the PostgreSQL driver {u.drivername!r}, which is not installed; "
                             f"write postgresql+psycopg://... ({where}).")
        if not u.host or not u.database:
            raise InputError(f"storage must name a host and a database (postgresql+psycopg://user:pass@host:5432/db), "
                             f"but got storage={mask_url(url)!r} ({where}).")
        if u.port is not None and not (0 < u.port < 65536):
            raise InputError(f"storage port must be 1-65535, but got {u.port} ({where}).")
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise InputError(f"storage scheme {u.drivername!r} is not supported, but got storage={mask_url(url)!r}; use "
                     f"sqlite:///PATH or postgresql+psycopg://user:pass@host:5432/db ({where}).")


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


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


def load_or_create_study(cfg: "StudyConfig", with_heartbeat: bool = True, sampler: Any = None,
                         pruner: Any = None) -> optuna.Study:
    """Load the study named in ``cfg`` (creating it on first use); safe to race from many workers."""
    from .strategy import make_pruner, make_sampler

    storage = open_storage(cfg.storage, cfg.heartbeat.interval if with_heartbeat else None,
                           cfg.heartbeat.grace_period if with_heartbeat else None)
    sampler = sampler if sampler is not None else make_sampler(cfg)
    pruner = pruner if pruner is not None else make_pruner(cfg)

    def create() -> optuna.Study:
        return optuna.create_study(storage=storage, study_name=cfg.name, direction=cfg.direction,
                                   sampler=sampler, pruner=pruner, load_if_exists=True)

    study = with_retries(create, "creating/loading the study")
    dirs = study.directions
    if len(dirs) != 1 or dirs[0].name.lower() != cfg.direction:
        raise InputError(f"the study {cfg.name!r} in {mask_url(cfg.storage)} was created with direction "
                         f"{dirs[0].name.lower()}, but the study file says direction={cfg.direction!r} ({cfg.path}); "
                         "use a new name or fix the direction.")
    return study


def artifact_store(cfg: "StudyConfig") -> optuna.artifacts.FileSystemArtifactStore:
    """The shared artifact store under <artifacts>/store (the dashboard reads the same one)."""
    root = Path(cfg.artifacts) / "store"
    root.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(str(root))
