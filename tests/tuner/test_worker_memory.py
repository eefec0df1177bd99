"""A worker's private memory does not grow with the dataset (issue 14, P2): the prepared dataset is one
memory map in the page cache, so a worker that trains every fold of a trial on a ~100 MB feature matrix
holds about as much anonymous memory as one that trains on a 40x smaller market.

Measured the way the target is stated: /proc/PID/smaps_rollup ``Anonymous`` (private memory, whatever
file pages the process maps) of a real `stocktune worker` subprocess, sampled over its whole life. The
fixed per-process part (Python, torch, optuna, the first training step's buffers) is the same for both
markets, so the difference of their peaks is what the dataset's size adds. Before the fix (folds as
int64 index arrays, each fold's windows copied per trial, the trainer's concatenated copy and int64
permutation) the difference was 57 MB, 52% of the feature matrix; after it, 2-3 MB (2%); the bound is 15%.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from _study import REPO, reap, write_study
from cli_run import cli_command, cli_env

from data_prep.config import PrepConfig
from data_prep.pipeline import prepare

SHARE = 0.15  # of the mid-size market's features.npy: the most the dataset may add to a worker's private memory
PREP = {"look_back": 60, "look_ahead": 5}
MARKETS = {"tiny": "synthetic:tickers=12,days=2300,seed=5",  # ~27k rows
           "mid": "synthetic:tickers=600,days=2300,seed=5"}  # ~1.2M rows, features.npy 108 MB
TRAIN = {"epochs": 1, "samples_per_epoch": 256, "val_samples": 512, "eval_batch_size": 16384, "batch_size": 128,
         "hidden_dim": 8, "num_layers": 1, "cell": "gru", "seed": 0, "threads": 1}


def _anonymous_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def _worker_peak(study: Path, cache: Path, log: Path) -> float:
    """Peak anonymous MB of one `stocktune worker` run to its end (sampled every 10 ms)."""
    with open(log, "wb") as fh:
        p = subprocess.Popen(cli_command("worker", str(study), "--threads", "1"), cwd=REPO,
                             env=cli_env({"STOCKTUNE_CACHE": str(cache)}), stdout=fh, stderr=subprocess.STDOUT,
                             start_new_session=True)
    peak, deadline = 0.0, time.monotonic() + 240
    try:
        while p.poll() is None:
            assert time.monotonic() < deadline, f"the worker did not finish in 240 s:\n{log.read_text()}"
            peak = max(peak, _anonymous_mb(p.pid) or 0.0)
            time.sleep(0.01)
    finally:
        reap(p)
    assert p.returncode == 0, log.read_text()
    assert "1 complete, 0 pruned, 0 interrupted, 0 failed" in log.read_text(), log.read_text()
    return peak


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc/PID/smaps_rollup")
def test_a_workers_private_memory_does_not_grow_with_the_dataset(tmp_path):
    cache = tmp_path / "cache"
    features, peaks = {}, {}
    for name, source in MARKETS.items():
        features[name] = (prepare(source, PrepConfig(**PREP), cache).path / "features.npy").stat().st_size
        study = write_study(tmp_path, name=name, n_trials=1, train=TRAIN, sampler={"name": "random", "seed": 1},
                            search={"learning_rate": {"low": 1e-3, "high": 3e-3, "log": True}},
                            data={"source": source, **PREP}, validation={"folds": 3})
        peaks[name] = _worker_peak(study, cache, tmp_path / f"{name}.log")
    grown = peaks["mid"] - peaks["tiny"]
    bound = SHARE * features["mid"] / 2**20
    assert grown <= bound, (f"a worker on the mid-size market (features.npy {features['mid'] / 2**20:.0f} MB) peaked at "
                            f"{peaks['mid']:.0f} MB of anonymous memory, {grown:.1f} MB more than on the tiny market "
                            f"({peaks['tiny']:.0f} MB); the dataset may add at most {SHARE:.0%} = {bound:.1f} MB")
