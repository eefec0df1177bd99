"""Study storage (SQLite or PostgreSQL) and the shared artifact store.

SQLite is the zero-setup default: WAL journal, a 60 s busy timeout and BEGIN IMMEDIATE
transactions (set on every pooled connection) so that several local workers plus an open
dashboard queue for the write lock instead of failing with "database is locked". PostgreSQL is
the multi-machine backend: ``pool_pre_ping`` and a small pool so a server restart costs a
reconnect, not a trial. Both get Optuna's heartbeat with a retry callback, so a trial whose
worker died is re-queued with the same params (and resumes from its checkpoint).

Startup fails fast: the first time a process opens a storage, ``check_storage`` makes one probe
connection (PostgreSQL) or a write test (SQLite). A refused password, an unknown database or role,
a server that stays unreachable for ``STARTUP_WAIT`` s or an unwritable SQLite path is an InputError
(exit 2, one line with the masked URL) instead of five minutes of retries and a traceback. Outages
after that point are retried as before (``tuner/retry.py``).
"""
from __future__ import annotations

import logging
import os
import random
import re
import sqlite3
import tempfile
import time
import warnings
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

import optuna
from filelock import FileLock
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.pool import NullPool

from common.errors import InputError

from .retry import with_retries
from .study_config import StudyConfig
from .urls import mask_url, sqlite_path

__all__ = ["open_storage", "artifact_store", "retry_callback", "check_storage", "check_reachable",
           "check_sqlite_writable", "STARTUP_WAIT"]

log = logging.getLogger("stocktune.storage")

# seconds a command waits at startup for a PostgreSQL server that refuses connections, cannot be
# resolved or does not answer (a server or a DNS entry still coming up) before it gives up with
# exit 2; a wrong password, database or role is reported at once
STARTUP_WAIT = 12.0
PROBE_TIMEOUT = 5  # libpq connect_timeout of the probe, seconds
_checked: set[str] = set()  # URLs this process has probed successfully

# (pattern in the driver's message, what failed, what to do, permanent?); the first match wins
_CONNECT_ERRORS: tuple[tuple[str, str, str, bool], ...] = (
    (r'password authentication failed for user "([^"]*)"', "the server refused the password of user {0!r}",
     "check the user and password in the storage URL (or the variable it is expanded from)", True),
    (r"no password supplied", "the server asks for a password and the URL has none",
     "write postgresql+psycopg://user:${PGPASSWORD}@host:port/db", True),
    (r"(no pg_hba\.conf entry|pg_hba\.conf rejects)", "the server's pg_hba.conf admits no such connection",
     "connect as a user and from a host that pg_hba.conf allows, or add an entry there", True),
    (r"authentication failed", "the server refused the credentials", "check the user and password in the storage URL", True),
    (r'database "([^"]*)" does not exist', "the database {0!r} does not exist",
     "create it (createdb) or fix the database name in the storage URL", True),
    (r'role "([^"]*)" does not exist', "the role (user) {0!r} does not exist",
     "create it (CREATE ROLE ... LOGIN) or fix the user name in the storage URL", True),
    (r"Connection refused", "the server refused the connection (nothing listens on that host and port)",
     "start PostgreSQL, or fix the host and port in the storage URL", False),
    (r"(failed to resolve host|could not translate host name|Name or service not known|"
     r"Temporary failure in name resolution|nodename nor servname)", "the host name cannot be resolved",
     "fix the host in the storage URL", False),
    (r"(timeout expired|timed out)", f"the server did not answer within {PROBE_TIMEOUT} s",
     "check the host, the port and any firewall between this machine and the server", False),
)


def _classify(e: BaseException) -> tuple[str, str, bool]:
    """(what failed, what to do, permanent?) for a failed probe connection."""
    text = str(getattr(e, "orig", None) or e)
    for pattern, what, todo, permanent in _CONNECT_ERRORS:
        m = re.search(pattern, text, re.I)
        if m:
            return what.format(*m.groups()), todo, permanent
    first = " ".join(text.split())[:300]  # psycopg puts the server's message on several lines
    return first, "check that the server is up and the storage URL is right", False


def check_reachable(url: str, wait: float = STARTUP_WAIT) -> None:
    """One probe connection to a PostgreSQL storage (SQLite: nothing to do); InputError if it fails.

    Authentication failures and a missing database or role fail at once; a refused connection,
    an unresolvable host or a timeout is tried again for ``wait`` seconds (a server still starting).
    Done once per URL and process: later outages are the retries' business.
    """
    if sqlite_path(url) is not None or url in _checked:
        return
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": PROBE_TIMEOUT})
    deadline, waited = time.monotonic() + wait, False
    try:
        while True:
            try:
                with engine.connect():
                    pass
                _checked.add(url)
                return
            except DBAPIError as e:
                what, todo, permanent = _classify(e)
                left = deadline - time.monotonic()
                if permanent or left <= 0:
                    raise InputError(f"cannot open the study storage {mask_url(url)}: {what}; {todo}.") from None
                if not waited:  # -v shows it; without, the error stays the one line it ends with
                    log.info("storage %s not reachable yet (%s); trying again for %.0fs", mask_url(url), what, left)
                waited = True
                time.sleep(min(1.0, left))
    finally:
        engine.dispose()


def check_sqlite_writable(path: Path) -> None:
    """InputError naming ``path`` unless this process can create (or open for writing) the SQLite file
    and its journal files next to it. Writes nothing but a probe file that it removes."""
    hint = "use a path in a writable directory (storage = \"sqlite:///runs/NAME/study.db\") or pass --storage"
    if path.exists():
        if not path.is_file():
            raise InputError(f"the SQLite storage {path} exists and is not a file; {hint}.")
        # never open() the database file itself: closing any descriptor of it drops every POSIX lock this
        # process holds on it, including the shared lock of a live SQLite connection, and another
        # process may then checkpoint and delete the WAL under it (duplicate trials, a corrupt file)
        if not os.access(path, os.R_OK | os.W_OK):
            raise InputError(f"the SQLite storage {path} cannot be opened for writing (permission denied); {hint}.")
        where = path.parent
    else:
        where = path.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            raise InputError(f"the SQLite storage {path} cannot be created: {where} is a file, not a directory; {hint}.")
    try:  # the real test: root passes any permission check, but not a read-only file system
        fd, probe = tempfile.mkstemp(prefix=".stocktune-write-test-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(f"the SQLite storage {path} cannot be written: {where} is not writable ({e.strerror}); "
                         f"{hint}.") from None


def check_storage(url: str) -> None:
    """The startup check of a storage URL: SQLite writable, PostgreSQL reachable and accepting us."""
    path = sqlite_path(url)
    if path is not None:
        check_sqlite_writable(path)
    else:
        check_reachable(url)


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


def _sqlite_schema_exists(path: Path) -> bool:
    """Whether optuna's schema is in place (its alembic stamp written), read without writing anything."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)) as c:
            return c.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


# another process creating the same schema at the same moment: PostgreSQL's UniqueViolation /
# DuplicateTable ("already exists", "duplicate key"), SQLite's stamp ("UNIQUE constraint failed")
_SCHEMA_RACE = ("already exists", "duplicate key", "UNIQUE constraint failed")


def open_storage(url: str, heartbeat_interval: int | None = 10, grace_period: int | None = 30) -> RDBStorage:
    """An RDBStorage tuned for concurrent workers; retried while the database is unreachable.

    The first call in a process checks the storage (``check_storage``): a permanent problem is an
    InputError before anything is created.
    """
    check_storage(url)
    kwargs: dict[str, Any]
    path = sqlite_path(url)
    lock: Any = nullcontext()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _sqlite_schema_exists(path):
            # the first workers on a new file: one creates the schema while the others wait, then find
            # it complete (optuna's create_all + alembic stamp is not safe to race on SQLite)
            lock = FileLock(f"{path}.lock", timeout=300)

        # WAL is a property of the file: set it before the first SQLAlchemy connection
        def set_wal() -> None:
            with closing(sqlite3.connect(path, timeout=60)) as c:
                c.execute("PRAGMA journal_mode = WAL")
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
                    # several workers creating the schema of a fresh database at once: the losers'
                    # CREATE TYPE/TABLE or alembic stamp hits the winner's. create_all is one
                    # transaction and checks first, so a retry finds it complete.
                    if attempt == 4 or not any(m in str(e) for m in _SCHEMA_RACE):
                        raise
                    log.info("another worker is creating the storage schema; retrying")
                    time.sleep(0.5 + random.random())
            raise AssertionError("unreachable")

    with lock:
        if path is not None:
            with_retries(set_wal, "opening the SQLite file")
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
