"""A storage that cannot work fails at startup, in one line, before any work (issue 12, items 11 and 13).

* PostgreSQL that refuses the password, has no such database or role, or refuses connections: every
  command that opens the storage exits 2 within 30 s with one line naming the masked URL, what failed
  and what to do, and never prints the password (before: five minutes of retries, then a traceback).
* A SQLite path that cannot be written: `worker` and `tune` exit 2 naming the path before the dataset
  is prepared (before: a traceback after the cache was built), and write nothing.

The outage of a study that is already running is still retried: test_pg_reliability.py.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _study import stocktune, write_study
from pg import free_port

pytestmark = pytest.mark.postgres

SECRET = "hunter2-not-this-one"
COMMANDS = {  # command -> extra arguments after the study file
    "worker": ("--threads", "1"),
    "tune": ("--workers", "1"),
    "launch": ("--workers", "1"),
    "status": (),
    "export": ("--out", "best.toml"),
    "dashboard": ("--port", "0"),
}


def _fails_fast(tmp_path: Path, url: str, command: str = "status", cache: Path | None = None):
    """Run `stocktune COMMAND study.toml` against ``url``; assert exit 2 within 30 s in one line."""
    study = write_study(tmp_path, name="st", storage=url)
    t0 = time.monotonic()
    r = stocktune(command, str(study), *COMMANDS[command], cwd=tmp_path, cache=cache or tmp_path / "cache",
                  timeout=120)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert took < 30, f"{command} took {took:.0f}s to give up:\n{out}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out, out
    assert SECRET not in out, out
    assert not (tmp_path / "cache").exists(), "the dataset was prepared before the storage was checked"
    assert not (tmp_path / "best.toml").exists()
    return lines[0]


@pytest.fixture(scope="module")
def password_url(postgres_server) -> str:
    """A role that must give its password, and a URL with the wrong one."""
    postgres_server.add_password_role("pwuser", "the-right-one")
    return f"postgresql+psycopg://pwuser:{SECRET}@127.0.0.1:{postgres_server.port}/postgres"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_wrong_password_exits_2_at_once_from_every_command(tmp_path, password_url, command):
    line = _fails_fast(tmp_path, password_url, command)
    assert "postgresql+psycopg://pwuser:***@127.0.0.1" in line, line
    assert "password" in line and "pwuser" in line, line


def test_an_unknown_database_exits_2_naming_it(tmp_path, postgres_server):
    line = _fails_fast(tmp_path, f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{postgres_server.port}/nosuchdb")
    assert "'nosuchdb' does not exist" in line and "postgres:***@" in line and "createdb" in line, line


def test_an_unknown_role_exits_2_naming_it(tmp_path, postgres_server):
    line = _fails_fast(tmp_path, f"postgresql+psycopg://ghost:{SECRET}@127.0.0.1:{postgres_server.port}/postgres",
                       "worker")
    assert "'ghost' does not exist" in line and "ghost:***@" in line, line


@pytest.mark.parametrize("command", ["status", "worker"])
def test_a_refused_connection_exits_2_within_30s(tmp_path, command):
    port = free_port()  # bound and closed again: nothing listens there
    line = _fails_fast(tmp_path, f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/db", command)
    assert f"127.0.0.1:{port}" in line and "refused" in line and "start PostgreSQL" in line, line


def test_a_password_url_that_works_passes_the_check(tmp_path, postgres_server, password_url):
    """The probe is no false alarm: the right password opens the storage (status: the study does not exist)."""
    study = write_study(tmp_path, name="ok", storage=password_url.replace(SECRET, "the-right-one"))
    r = stocktune("status", str(study), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "study 'ok' does not exist" in r.stderr, r.stderr
    assert "the-right-one" not in r.stdout + r.stderr


# ------------------------------------------------------------------------------------ SQLite

def _unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "parent is a file":
        (tmp_path / "afile").write_text("not a directory\n")
        return tmp_path / "afile" / "study.db"
    if kind == "path is a directory":
        (tmp_path / "adir.db").mkdir()
        return tmp_path / "adir.db"
    if kind == "read-only directory":
        # /proc refuses new files even to root, for whom chmod 555 would not
        return Path("/proc/stocktune-test/study.db")
    raise AssertionError(kind)


@pytest.mark.parametrize("command", ["worker", "tune"])
@pytest.mark.parametrize("kind", ["parent is a file", "path is a directory", "read-only directory"])
def test_an_unwritable_sqlite_path_exits_2_before_the_dataset_is_prepared(tmp_path, command, kind):
    db = _unwritable(tmp_path, kind)
    study = write_study(tmp_path, name="ro", storage=f"sqlite:///{db}")
    before = sorted(os.listdir(tmp_path))
    r = stocktune(command, str(study), *COMMANDS[command], cwd=tmp_path, cache=tmp_path / "cache", timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in out, out
    assert str(db) in r.stderr and "SQLite storage" in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == before, "something was written (cache, storage, logs)"
