"""Cache: content-addressed keys, atomic build, built once under concurrency, nothing left by a failure."""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from data_prep.cache import build_once, cache_key


def test_key_depends_on_content_settings_and_is_stable():
    k = cache_key("abc", {"look_back": 60})
    assert k == cache_key("abc", {"look_back": 60})
    assert k != cache_key("abd", {"look_back": 60})
    assert k != cache_key("abc", {"look_back": 61})
    assert cache_key("abc", {"a": 1, "b": 2}) == cache_key("abc", {"b": 2, "a": 1})


def _write(tmp: Path) -> None:
    (tmp / "x.npy").write_bytes(b"1")
    (tmp / "meta.json").write_text("{}")


def test_hit_returns_same_path_without_rebuilding(tmp_path):
    calls = []
    p1, c1 = build_once(tmp_path, "k", lambda d: (calls.append(d), _write(d)))
    p2, c2 = build_once(tmp_path, "k", lambda d: (calls.append(d), _write(d)))
    assert (c1, c2) == (False, True) and p1 == p2 == tmp_path / "k" and len(calls) == 1


def test_failed_build_leaves_nothing(tmp_path):
    def boom(d: Path) -> None:
        (d / "half.npy").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        build_once(tmp_path, "k", boom)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def _slow_build(root: str, log: str, q) -> None:
    def build(d: Path) -> None:
        with open(log, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        _write(d)

    q.put(build_once(Path(root), "k", build))


def test_two_processes_build_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    log = tmp_path / "log"
    procs = [ctx.Process(target=_slow_build, args=(str(tmp_path / "c"), str(log), q)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        results = [q.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert log.read_text().count("built") == 1
    assert {r[0] for r in results} == {tmp_path / "c" / "k"}
    assert sorted(r[1] for r in results) == [False, True]
