"""Fixtures of the CLI tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """One dataset cache for every CLI test module: a market the modules share is prepared once."""
    return tmp_path_factory.mktemp("cli-cache")
