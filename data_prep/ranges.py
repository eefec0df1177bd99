"""Subsets of windows as ranges of positions, read on demand: a fold costs kilobytes, not a copy.

A walk-forward fold's windows are, per ticker, one run of the prepared split's (ticker, date)-sorted
windows, so a fold is a few thousand (start, count) pairs (``Ranges``) instead of millions of int64
positions. ``RangeColumn`` is one column of such a subset (end rows, targets or returns) over one or
more 1-D arrays taken end to end (the prepared train and val splits, memory-mapped): ``col[pos]``
reads only the asked positions, so a worker training a fold holds no private copy of its windows
(at full size a fold's end rows + targets + returns were 84 MB per trial, on top of a 100 MB plan).
It behaves like a read-only 1-D ndarray where the code needs one: ``len``, ``shape``, ``dtype``,
indexing, ``min``/``max``/``mean`` in bounded chunks, and ``np.asarray`` (which does materialize it:
for tests and small subsets, never in the training loop).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["Ranges", "RangeColumn", "concat_columns", "CHUNK"]

CHUNK = 1 << 18  # elements per chunk of a pass over a column or a memory map: 2 MB of int64 temporaries


class Ranges:
    """Positions ``starts[i] .. starts[i] + counts[i] - 1``, concatenated in order (empty ranges dropped)."""

    def __init__(self, starts: np.ndarray, counts: np.ndarray) -> None:
        starts, counts = np.asarray(starts, np.int64), np.asarray(counts, np.int64)
        keep = counts > 0
        self.starts, self.counts = starts[keep], counts[keep]
        self.offsets = np.cumsum(self.counts) - self.counts  # where each range begins in the subset
        self.size = int(self.counts.sum())

    @classmethod
    def full(cls, n: int) -> Ranges:
        return cls(np.zeros(1, np.int64), np.array([n], np.int64))

    def __len__(self) -> int:
        return self.size

    def positions(self, i: np.ndarray) -> np.ndarray:
        """The positions of subset elements ``i`` (int array, 0 <= i < size): O(len(i) log ranges)."""
        i = np.asarray(i, np.int64)
        r = np.searchsorted(self.offsets, i, side="right") - 1  # [len(i)] -> the range of each
        return self.starts[r] + (i - self.offsets[r])

    def to_array(self) -> np.ndarray:
        """All positions as int64 (O(size) memory: tests and small subsets)."""
        return self.positions(np.arange(self.size))


class RangeColumn(NDArrayOperatorsMixin):
    """The elements of ``parts`` (1-D arrays taken end to end) at the positions of ``ranges``, read on demand."""

    def __init__(self, parts: Sequence[Any], ranges: Ranges, ascending: bool = False) -> None:
        # ascending: every part is sorted (a fold's end rows: FoldPlan checked it), so min and max come
        # from the ranges' ends in O(ranges) instead of a pass over every window
        self.ascending = ascending
        self.parts = list(parts)
        self.bounds = np.cumsum([0] + [len(p) for p in self.parts])  # part k covers bounds[k] .. bounds[k+1]-1
        self.ranges = ranges
        self.dtype = np.result_type(*[p.dtype for p in self.parts])

    # ---- the ndarray surface the trainer, the folds and the tests use
    @property
    def shape(self) -> tuple[int]:
        return (self.ranges.size,)

    @property
    def size(self) -> int:
        return self.ranges.size

    def __len__(self) -> int:
        return self.ranges.size

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.size if key < 0 else 0)
            if not 0 <= k < self.size:
                raise IndexError(f"index {key} is out of bounds for a column of size {self.size}")
            return self.take(np.array([k]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(self.size)))
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self.take(np.where(key < 0, key + self.size, key))

    def take(self, i: np.ndarray) -> np.ndarray:
        """Elements ``i`` of the column, in the order asked (one gather per part)."""
        return self._gather(self.ranges.positions(i))

    def _gather(self, pos: np.ndarray) -> np.ndarray:
        if len(self.parts) == 1:
            return np.asarray(self.parts[0][pos], self.dtype)
        out = np.empty(pos.shape, self.dtype)
        part = np.searchsorted(self.bounds, pos, side="right") - 1
        for k, p in enumerate(self.parts):
            m = part == k
            if m.any():
                out[m] = p[pos[m] - self.bounds[k]]
        return out

    def chunks(self):
        """The column in consecutive pieces of at most CHUNK elements (bounded memory)."""
        for lo in range(0, self.size, CHUNK):
            yield self.take(np.arange(lo, min(lo + CHUNK, self.size)))

    def min(self) -> Any:
        if self.ascending:
            return self._gather(self.ranges.starts).min()
        return min(c.min() for c in self.chunks())

    def max(self) -> Any:
        if self.ascending:
            return self._gather(self.ranges.starts + self.ranges.counts - 1).max()
        return max(c.max() for c in self.chunks())

    def mean(self) -> float:
        return float(sum(float(c.sum(dtype=np.float64)) for c in self.chunks()) / self.size)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._gather(self.ranges.to_array())
        return out if dtype is None else out.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # `col + 5`, `col == x`: on the materialized values (tests, small subsets)
        inputs = tuple(np.asarray(x) if isinstance(x, RangeColumn) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __repr__(self) -> str:
        return f"RangeColumn(size={self.size}, dtype={self.dtype}, ranges={len(self.ranges.starts)})"


def concat_columns(parts: Sequence[Any]) -> Any:
    """1-D arrays (or columns) end to end, without copying: the only part itself, else a lazy column."""
    if len(parts) == 1:
        return parts[0]
    return RangeColumn(parts, Ranges.full(sum(len(p) for p in parts)))
