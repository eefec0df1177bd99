"""Fixtures for the tuner tests: one dataset cache per session (the sample data is prepared once)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tuner_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tuner-cache")


@pytest.fixture()
def study_dir(tmp_path, tuner_cache, monkeypatch):
    """A working directory for an in-process worker: the session's dataset cache, cwd = tmp_path."""
    monkeypatch.setenv("STOCKTUNE_CACHE", str(tuner_cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path
