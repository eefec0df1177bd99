"""The fast paths of reading and ranking keep what they replace: the same values, the same memory."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from data_prep import readers
from data_prep.sources import load_source
from data_prep.synthetic import write_market
from data_prep.target import _cs_rank


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_arrow_tables_are_gone_when_the_pool_is_released(tmp_path, monkeypatch, fmt):
    """The column conversions run as jobs on threads; the jobs hold the files' Arrow tables, so if they
    outlived ``release_unused`` the pool would keep ~0.5 GB of freed buffers resident at full size."""
    write_market(tmp_path, 6, 300, seed=3, fmt=fmt)
    monkeypatch.setenv("STOCKTUNE_PREP_THREADS", "2")
    pool = pa.default_memory_pool()
    held: list[int] = []

    class Spy:
        def release_unused(self) -> None:
            held.append(pa.total_allocated_bytes())
            pool.release_unused()

    monkeypatch.setattr(readers.pa, "default_memory_pool", lambda: Spy())
    before = pa.total_allocated_bytes()  # what other tests' objects still hold
    raw = load_source(str(tmp_path))
    assert len(raw.panel) > 0 and len(held) == 1 and held[0] <= before


def test_ranks_in_row_blocks_equal_one_whole_grid_sort(monkeypatch):
    """Blocks of dates on threads rank every date exactly as one argsort of the whole grid: ties and
    missing returns included."""
    rng = np.random.default_rng(5)
    nd, nt = 700, 90  # more dates than one block holds
    day = np.repeat(np.arange(nd), nt)
    tk = np.tile(np.arange(nt), nd).astype(np.int32)
    keep = rng.random(day.size) < 0.8
    date = (np.datetime64("2010-01-01") + day[keep]).astype("datetime64[D]")
    ret = np.round(rng.normal(0, 0.02, int(keep.sum())), 3)  # many ties
    ret[rng.random(ret.size) < 0.01] = np.nan
    monkeypatch.setenv("STOCKTUNE_PREP_THREADS", "2")
    got = _cs_rank(date, ret, tk[keep])
    want = np.full(ret.shape, np.nan)  # the reference: one whole-grid argsort, as before the blocks
    ok = np.flatnonzero(np.isfinite(ret))
    d = (date[ok].view(np.int64) - date.view(np.int64).min()).astype(np.int64)
    grid = np.full((nd, nt), np.inf)
    grid[d, tk[keep][ok]] = ret[ok]
    order = np.argsort(grid, axis=1)
    share = grid.copy()
    np.put_along_axis(share, order, (np.arange(nt) + 0.5)[None, :], axis=1)
    share /= np.maximum(np.bincount(d, minlength=nd), 1)[:, None]
    want[ok] = share[d, tk[keep][ok]]
    assert np.array_equal(got, want, equal_nan=True)
