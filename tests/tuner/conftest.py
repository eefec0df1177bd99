"""Fixtures for the tuner tests: one dataset cache per session (the sample data is prepared once)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tuner_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tuner-cache")
