"""Fixtures for model tests; the dataset and config builders live in _harness.py."""
from __future__ import annotations

import pytest
from _harness import make_dataset

from data_prep.dataset import PreparedDataset


@pytest.fixture(scope="session")
def dataset() -> PreparedDataset:
    """The shared learnable dataset (4 tickers x 300 days, 4 features, look_back 10)."""
    return make_dataset()
