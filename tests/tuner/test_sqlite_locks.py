"""A live worker's SQLite connection keeps its lock while the same process checks the storage again.

In WAL mode every open connection holds a shared POSIX lock on the database file, so the last process
to close checkpoints and deletes the WAL only when nobody else uses it. A process that open()s and
closes the database file itself drops all its locks on it (POSIX locks are per process and file); the
next process to close a connection then deletes the WAL and shared memory under a live worker, whose
later writes and reads go to a different index: two workers ran the same enqueued trial and the file
ended "malformed". The check below reproduces that sequence with real processes.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

CHILD = r"""
import sys, time
from sqlalchemy import text
from tuner.storage import open_storage
url = sys.argv[1]
storage = open_storage(url, heartbeat_interval=None)
with storage.engine.connect() as c:       # a pooled connection stays open, as in a worker
    c.execute(text("SELECT count(*) FROM studies")).fetchone()
open_storage(url, heartbeat_interval=None)   # what a worker does again later (confirm, verdict, notes)
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.mark.timeout(120)
def test_a_second_open_in_a_live_process_keeps_its_lock_on_the_sqlite_file(tmp_path):
    db = tmp_path / "study.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, f"sqlite:///{db}"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        wal = db.with_name("study.db-wal")
        assert wal.exists()
        # another process opens and closes a connection: with the child's lock intact it is not the
        # last user of the file, so it must leave the WAL in place
        with closing(sqlite3.connect(db)) as c:
            c.execute("SELECT count(*) FROM studies").fetchone()
        assert wal.exists(), "the WAL was deleted under a live connection: the worker lost its lock"
    finally:
        child.stdin.close()
        child.wait(timeout=60)
