"""Cache: content-addressed keys, atomic build, built once under concurrency, nothing left by a failure."""
from __future__ import annotations

import multiprocessing as mp
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


def _build_when_both_wait(root: str, log: str, me: int, waiting: list, q) -> None:
    """build_once in a child process; the builder writes only once the other process waits on the lock."""
    import data_prep.cache as cache

    class SeenLock(cache.FileLock):
        def __enter__(self):
            waiting[me].set()  # about to block on (or take) the build lock
            return super().__enter__()

    cache.FileLock = SeenLock

    def build(d: Path) -> None:
        with open(log, "a") as f:
            f.write("built\n")
        assert waiting[1 - me].wait(60), "the other process never reached the lock"
        _write(d)

    q.put((me, *cache.build_once(Path(root), "k", build)))


def test_two_processes_build_once(tmp_path):
    """Both processes are inside build_once at the same time (the builder holds the lock until the other
    waits on it), one builds, and the other gets the finished dataset from the cache."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    waiting = [ctx.Event(), ctx.Event()]
    log = tmp_path / "log"
    procs = [ctx.Process(target=_build_when_both_wait, args=(str(tmp_path / "c"), str(log), i, waiting, q))
             for i in range(2)]
    for p in procs:
        p.start()
    try:
        results = [q.get(timeout=90) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(e.is_set() for e in waiting)
    assert log.read_text().count("built") == 1
    assert {r[1] for r in results} == {tmp_path / "c" / "k"}
    assert sorted(r[2] for r in results) == [False, True]
