"""prepare(): the whole pipeline on the synthetic market, the cache, leak-free fitting, inference features."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _market import random_walk_panel
from cli_run import cli_env

import data_prep.pipeline as pipeline
from common.errors import InputError
from data_prep import PreparedDataset, PrepConfig, featurize_for_inference, prepare
from data_prep.features import WARMUP
from data_prep.report import PLOTS

SOURCE = "synthetic:tickers=40,days=900,seed=2"
CFG = PrepConfig(look_back=30, look_ahead=5)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    return root, prepare(SOURCE, CFG, root)


def test_dataset_contract(built):
    _, res = built
    ds = res.dataset()
    assert not res.cached and isinstance(ds.features, np.memmap)
    assert ds.features.dtype == np.float32 and ds.features.shape[1] == len(ds.feature_names) >= 20
    assert np.isfinite(ds.features).all() and ds.features.min() >= -1 and ds.features.max() <= 1
    assert ds.ticker.dtype == np.int32 and ds.date.dtype == np.dtype("datetime64[D]")
    assert np.all(np.diff(ds.ticker) >= 0)
    meta = ds.meta
    for key in ("feature_names", "tickers", "look_back", "look_ahead", "prep", "source", "scaler",
                "target_method", "target_transform", "splits", "cache_key"):
        assert key in meta, key
    assert meta["look_back"] == 30 and meta["source"] == SOURCE and meta["cache_key"] == res.path.name
    for s in ("train", "val", "test"):
        sp = ds.split(s)
        assert len(sp) == meta["splits"][s]["n_windows"] > 0
        assert sp.end_idx.dtype == np.int64 and sp.target.dtype == np.float32 and sp.ret.dtype == np.float32
        assert np.all((sp.target >= 0) & (sp.target <= 1))
        # each window's rows belong to one ticker
        assert np.all(ds.ticker[sp.end_idx - ds.look_back + 1] == ds.ticker[sp.end_idx])


def test_report(built):
    _, res = built
    rep = json.loads((res.path / "report.json").read_text())
    assert rep == json.loads(json.dumps(res.report.to_json())) and rep["report_version"] == 2
    for key in ("n_rows", "n_tickers", "features", "purge_gap_days", "adjustments", "cache_key", "target_method",
                "source"):
        assert key in rep, key
    for s in ("train", "val", "test"):
        for key in ("start", "end", "n_windows", "target_ks_stat", "target_ks_p"):
            assert key in rep["splits"][s]
    assert rep["splits"]["train"]["end"] < rep["splits"]["val"]["start"]
    assert rep["purge_gap_days"] == CFG.gap_days
    assert rep["adjustments"], "the synthetic market plants splits; they must be reported"
    for name in PLOTS + ("report.md",):
        assert (res.path / name).is_file()


def test_train_target_is_uniform_on_the_synthetic_market(built):
    _, res = built
    assert res.report.splits["train"].target_ks_stat <= 0.02


def test_ecdf_target_uniform_too(tmp_path):
    res = prepare(SOURCE, replace(CFG, target="ecdf"), tmp_path)
    assert res.report.target_method == "ecdf"
    assert res.report.splits["train"].target_ks_stat <= 0.02


def test_cache_hit_same_path_without_recomputation(built, monkeypatch):
    root, res = built

    def fail(*a, **k):
        raise AssertionError("recomputed features on a cache hit")

    monkeypatch.setattr(pipeline, "compute_features", fail)
    again = prepare(SOURCE, CFG, root)
    assert again.cached and again.path == res.path and again.report == res.report
    # a different setting is a different dataset
    monkeypatch.undo()
    other = prepare(SOURCE, replace(CFG, look_ahead=3), root)
    assert other.path != res.path and not other.cached


def test_two_processes_build_once(tmp_path):
    """Two `prepare` processes are inside the cache's build lock at the same time (the builder writes only
    once the other waits on the lock); one builds, the other gets the finished dataset."""
    script = textwrap.dedent(f"""
        import pathlib, sys, time
        import data_prep.cache as cache
        import data_prep.pipeline as pl
        marks = pathlib.Path(sys.argv[3])

        class SeenLock(cache.FileLock):
            def __enter__(self):
                (marks / sys.argv[4]).touch()  # about to block on (or take) the build lock
                return super().__enter__()

        cache.FileLock = SeenLock
        orig = pl.build_dataset

        def counted(*a, **k):
            with open(sys.argv[2], "a") as f:
                f.write("build\\n")
            deadline = time.monotonic() + 60
            while len(list(marks.iterdir())) < 2:  # the other process is waiting on the lock
                assert time.monotonic() < deadline, "the other process never reached the lock"
                time.sleep(0.05)
            return orig(*a, **k)

        pl.build_dataset = counted
        from data_prep import PrepConfig
        r = pl.prepare({SOURCE!r}, PrepConfig(look_back=30, look_ahead=5), sys.argv[1])
        print(r.path, r.cached)
    """)
    log, marks = tmp_path / "builds.log", tmp_path / "marks"
    marks.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "c"), str(log), str(marks), str(i)],
                              stdout=subprocess.PIPE, text=True, env=cli_env()) for i in range(2)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=180)[0].split())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs)
    assert sorted(m.name for m in marks.iterdir()) == ["0", "1"]  # both were in the lock together
    assert log.read_text().count("build") == 1
    assert outs[0][0] == outs[1][0] and sorted(o[1] for o in outs) == ["False", "True"]
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")] == [Path(outs[0][0]).name]
    assert not [p for p in (tmp_path / "c").iterdir() if ".tmp-" in p.name]


def _build(panel, cfg, path):
    path.mkdir()
    pipeline.build_dataset(panel, cfg, path, {"source": "test"})
    return PreparedDataset.load(path)


def test_scaler_and_target_fitted_on_training_rows_only(tmp_path):
    """Changing every price after the training period changes neither the scaler nor the target transform."""
    cfg = PrepConfig(look_back=20, look_ahead=5, target="ecdf")
    p = random_walk_panel(tickers=6, days=700, seed=9)
    a = _build(p, cfg, tmp_path / "a")
    last_train = np.datetime64(a.meta["splits"]["train"]["end"])
    later = p.date > last_train
    rng = np.random.default_rng(0)
    shock = np.where(later, np.exp(rng.normal(0, 0.05, len(p))), 1.0)  # train rows untouched, bit for bit
    wide = np.where(later, 1.01, 1.0)
    q = replace(p, open=p.open * shock, high=p.high * shock * wide, low=p.low * shock / wide,
                close=p.close * shock, volume=np.where(later, p.volume * 7, p.volume))
    b = _build(q, cfg, tmp_path / "b")
    assert a.meta["scaler"] == b.meta["scaler"]
    assert a.meta["target_transform"] == b.meta["target_transform"]
    np.testing.assert_array_equal(a.split("train").target, b.split("train").target)
    assert not np.array_equal(a.split("val").ret, b.split("val").ret)  # the change did reach val


def test_features_for_inference_reuse_the_stored_scaler(built):
    _, res = built
    ds = res.dataset()
    inf = featurize_for_inference(SOURCE, ds.meta)
    np.testing.assert_array_equal(inf.features, ds.features)
    latest = inf.split("latest").end_idx
    assert len(latest) == len(set(inf.ticker[latest].tolist())) > 0
    # the latest day of each ticker, later than any window with a target
    assert inf.date[latest].max() > ds.date[ds.split("test").end_idx].max()
    np.testing.assert_array_equal(latest, np.flatnonzero(np.r_[inf.ticker[1:] != inf.ticker[:-1], True]))
    assert np.all(latest - inf.look_back + 1 >= np.searchsorted(inf.ticker, inf.ticker[latest]) + WARMUP)


def test_bad_input_writes_nothing(tmp_path):
    root = tmp_path / "cache"
    with pytest.raises(InputError):
        prepare("synthetic:tickers=3,days=150,seed=0", CFG, root)  # too few days for three splits
    assert not root.exists()
    with pytest.raises(InputError):
        prepare(str(tmp_path / "missing.csv"), CFG, root)
    assert not root.exists()
