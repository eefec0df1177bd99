"""Ranges and RangeColumn: a subset of windows read through the split arrays behaves like the copied array."""
from __future__ import annotations

import numpy as np
import pytest

from data_prep.ranges import CHUNK, RangeColumn, Ranges, concat_columns


@pytest.fixture()
def parts():
    rng = np.random.default_rng(0)
    return [np.sort(rng.integers(0, 10**6, 40)).astype(np.int64), np.sort(rng.integers(0, 10**6, 25)).astype(np.int64)]


def _ranges():
    # ranges in the first part, one at the end of it, ranges in the second part, an empty one dropped
    return Ranges(np.array([2, 10, 38, 40, 50, 60]), np.array([3, 5, 2, 4, 0, 5]))


def test_positions_are_the_concatenated_ranges():
    r = _ranges()
    expected = np.r_[2:5, 10:15, 38:40, 40:44, 60:65]
    assert r.size == len(r) == expected.size
    np.testing.assert_array_equal(r.to_array(), expected)
    np.testing.assert_array_equal(r.positions(np.array([16, 0, 4])), expected[[16, 0, 4]])
    np.testing.assert_array_equal(Ranges.full(7).to_array(), np.arange(7))


def test_a_column_reads_like_the_copied_array(parts):
    col = RangeColumn(parts, _ranges())
    copy = np.concatenate(parts)[_ranges().to_array()]
    assert len(col) == col.size == copy.size and col.shape == copy.shape and col.dtype == copy.dtype
    np.testing.assert_array_equal(np.asarray(col), copy)
    idx = np.array([18, 3, 3, 0, 11])
    np.testing.assert_array_equal(col[idx], copy[idx])
    np.testing.assert_array_equal(col[2:15:4], copy[2:15:4])
    np.testing.assert_array_equal(col[copy > copy.mean()], copy[copy > copy.mean()])
    assert col[-1] == copy[-1] and col[5] == copy[5]
    with pytest.raises(IndexError):
        col[copy.size]
    assert col.min() == copy.min() and col.max() == copy.max() and col.mean() == pytest.approx(copy.mean())
    np.testing.assert_array_equal(col + 5, copy + 5)  # ufuncs work on the values
    assert np.sort(col)[0] == copy.min()


def test_reductions_are_chunked_and_exact_over_many_chunks():
    base = np.arange(3 * CHUNK + 17, dtype=np.int64)[::-1].copy()
    col = RangeColumn([base], Ranges(np.array([5, CHUNK + 1]), np.array([CHUNK, 2 * CHUNK])))
    copy = base[np.r_[5:CHUNK + 5, CHUNK + 1:3 * CHUNK + 1]]
    assert col.min() == copy.min() and col.max() == copy.max() and col.mean() == pytest.approx(copy.mean(), rel=1e-12)


def test_concat_columns_copies_nothing(parts):
    assert concat_columns([parts[0]]) is parts[0]
    both = concat_columns(parts)
    np.testing.assert_array_equal(np.asarray(both), np.concatenate(parts))
    nested = concat_columns([RangeColumn(parts, _ranges()), parts[1]])  # a fold's column, then another split
    np.testing.assert_array_equal(np.asarray(nested), np.concatenate([np.concatenate(parts)[_ranges().to_array()],
                                                                      parts[1]]))


def test_an_ascending_column_finds_min_and_max_from_its_ranges(parts):
    col = RangeColumn(parts, _ranges(), ascending=True)
    copy = np.concatenate(parts)[_ranges().to_array()]
    assert col.min() == copy.min() and col.max() == copy.max()
