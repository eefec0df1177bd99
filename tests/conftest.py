"""Shared fixtures: a real PostgreSQL server for the session, started and always stopped here."""
from __future__ import annotations

import pytest
from pg import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture()
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_db()
