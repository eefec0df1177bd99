"""Storage: URL checks and masking, SQLite tuned for concurrent writers, retries through outages."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from common.errors import InputError
from tuner.retry import is_transient, with_retries
from tuner.storage import open_storage
from tuner.urls import mask_url, validate_storage_url


@pytest.mark.parametrize("url,masked", [
    ("postgresql+psycopg://bob:s3cr3t@db:5432/st", "postgresql+psycopg://bob:***@db:5432/st"),
    ("postgresql+psycopg://bob@db/st", "postgresql+psycopg://bob@db/st"),
    ("sqlite:///runs/x/study.db", "sqlite:///runs/x/study.db"),
    ("garbage://bob:s3cr3t@host/with spaces%", None),
])
def test_mask_url_never_shows_the_password(url, masked):
    out = mask_url(url)
    assert "s3cr3t" not in out
    if masked is not None:
        assert out == masked


def test_postgres_url_gets_the_psycopg3_driver():
    assert validate_storage_url("postgresql://u:p@h:5432/d", "x") == "postgresql+psycopg://u:p@h:5432/d"


@pytest.mark.parametrize("url", ["mysql://u:p@h/d", "postgresql+psycopg2://u:p@h/d", "sqlite:///:memory:",
                                 "postgresql+psycopg://u:p@/d", "::::"])
def test_bad_urls_are_input_errors(url):
    with pytest.raises(InputError, match="storage"):
        validate_storage_url(url, "study.toml")


def test_transient_errors_are_recognised():
    wrapped = optuna.exceptions.StorageInternalError("commit failed")
    wrapped.__cause__ = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert is_transient(wrapped)
    assert not is_transient(ValueError("bad value"))


def test_with_retries_waits_out_a_transient_error():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return "ok"

    assert with_retries(flaky, "test", max_wait=10) == "ok" and len(calls) == 3
    with pytest.raises(OperationalError):
        with_retries(lambda: (_ for _ in ()).throw(OperationalError("x", {}, Exception("down"))), "t", max_wait=0)


def test_sqlite_is_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    open_storage(url)
    assert sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _hammer(url: str, n: int) -> None:
    import warnings
    warnings.simplefilter("ignore")
    from tuner.storage import open_storage as _open

    study = optuna.load_study(study_name="h", storage=_open(url))
    for i in range(n):
        t = study.ask()
        t.report(float(i), 1)
        t.set_user_attr("i", i)
        study.tell(t, float(i))


def test_four_processes_write_one_sqlite_file_without_lock_errors(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    optuna.create_study(study_name="h", storage=open_storage(url))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(url, 15)) for _ in range(4)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=240)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    study = optuna.load_study(study_name="h", storage=url)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 60
