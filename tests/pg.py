"""A throwaway PostgreSQL server on 127.0.0.1 for tests (the server refuses to run as root).

Used through the ``postgres`` fixture in conftest.py; the object also lets reliability tests stop
and restart the server mid-study.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def _bin(name: str) -> str:
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if hits:
        return hits[-1]
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found; run scripts/install.sh (apt-get install postgresql).")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stocktune-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        full = (["runuser", "-u", "postgres", "--"] if self._as_postgres else []) + list(cmd)
        return subprocess.run(full, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=200 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def restart(self, down_seconds: float = 5.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def create_db(self, name: str | None = None) -> str:
        """A fresh database; returns its SQLAlchemy URL (psycopg 3)."""
        name = name or f"t_{uuid.uuid4().hex[:10]}"
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def add_password_role(self, name: str, password: str) -> None:
        """A login role that must give its password (scram-sha-256); every other role stays on trust."""
        self._run(_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                  "-c", f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"
        line = f"host all {name} 127.0.0.1/32 scram-sha-256\n"
        self._run("sh", "-c", f"printf '%s' '{line}' | cat - {hba} > {hba}.new && mv {hba}.new {hba}")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "reload")
        import psycopg

        deadline = time.monotonic() + 30
        while True:  # the reload is asynchronous: wait until the server asks this role for its password
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=name, dbname="postgres", connect_timeout=5).close()
            except psycopg.OperationalError as e:
                if "password" in str(e):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_hba.conf reload did not take effect for role {name}")
            time.sleep(0.2)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
