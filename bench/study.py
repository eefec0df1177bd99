"""Pruning payoff and storage overhead on the sample study, measured side by side in one run.

For the same study file, sampler seed and n_trials, runs one in-process worker twice on a fresh
SQLite file: with the study's pruner (median by default) and with no pruning. Prints, for each:
total epochs trained, the best validation MAE, wall time, and the fraction of the worker's wall
time spent inside storage calls (main thread only; the heartbeat thread does not block training).
Goal: the pruned best within 1% of the unpruned best at <= 1/3 of its epochs.

    python bench/study.py                       # studies/sample.toml, 16 trials per pruner
    python bench/study.py --n-trials 12 --pruners median,successive_halving,none --train samples_per_epoch=1024
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.signals import StopFlag  # noqa: E402
from tuner.study_config import PrunerConfig, load_study_config  # noqa: E402
from tuner.worker import run_worker  # noqa: E402


class StorageClock:
    """Adds up wall time spent in RDBStorage methods called from the main thread (outermost call only)."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self._depth = threading.local()
        self._originals: dict[str, object] = {}

    def install(self) -> None:
        for name, fn in vars(RDBStorage).items():
            if isinstance(fn, type(lambda: 0)) and not name.startswith("__"):  # plain methods only
                self._originals[name] = fn
                setattr(RDBStorage, name, self._wrap(fn))

    def uninstall(self) -> None:
        for name, fn in self._originals.items():
            setattr(RDBStorage, name, fn)

    def _wrap(self, fn):
        clock = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return fn(*args, **kwargs)
            depth = getattr(clock._depth, "d", 0)
            clock._depth.d = depth + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock._depth.d = depth
                if depth == 0:
                    clock.seconds += time.perf_counter() - t0
                    clock.calls += 1
        return timed


def run(study_file: str, pruner: str, n_trials: int, threads: int, workdir: Path, train: dict) -> dict:
    cfg = load_study_config(study_file, storage=f"sqlite:///{workdir}/{pruner}.db", n_trials=n_trials)
    cfg = dataclasses.replace(cfg, name=f"bench-{pruner}", timeout=None, artifacts=workdir / f"artifacts-{pruner}",
                              train={**cfg.train, **train},
                              pruner=dataclasses.replace(cfg.pruner, name=pruner) if pruner != cfg.pruner.name
                              else cfg.pruner)
    clock = StorageClock()
    clock.install()
    t0 = time.perf_counter()
    try:
        run_worker(cfg, threads=threads, stop=StopFlag(), worker_index=0)
    finally:
        wall = time.perf_counter() - t0
        clock.uninstall()
    trials = optuna.load_study(study_name=cfg.name, storage=cfg.storage).get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    best = min(t.value for t in trials if t.state == TrialState.COMPLETE)
    return {"pruner": pruner, "trials": len(done), "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "epochs": sum(int(t.user_attrs.get("epochs_run", 0)) for t in done), "best_val_mae": best,
            "wall_s": wall, "storage_s": clock.seconds, "storage_calls": clock.calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="studies/sample.toml")
    ap.add_argument("--n-trials", type=int, default=16)
    ap.add_argument("--pruners", default="median,none", help="comma-separated; the last one is the baseline")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the (single) worker")
    ap.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                    help="override a [train] value (TOML literal), e.g. --train samples_per_epoch=1024")
    args = ap.parse_args()
    train = {}
    for item in args.train:
        key, _, value = item.partition("=")
        train[key] = tomllib.loads(f"v = {value}")["v"]
    for name in args.pruners.split(","):
        PrunerConfig(name=name)  # validate before spending minutes
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"optuna {optuna.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"study {args.study}, {args.n_trials} trials per run, one worker with {args.threads} threads, SQLite"
          + (f", [train] overrides {train}" if train else ""))
    with tempfile.TemporaryDirectory(prefix="stocktune-bench-") as tmp:
        rows = [run(args.study, p, args.n_trials, args.threads, Path(tmp), train) for p in args.pruners.split(",")]
    base = rows[-1]
    print(f"\n{'pruner':<20}{'trials':>7}{'pruned':>7}{'epochs':>8}{'epochs vs base':>16}{'best val_mae':>14}"
          f"{'vs base':>9}{'wall s':>9}{'storage s':>11}{'storage %':>11}")
    for r in rows:
        print(f"{r['pruner']:<20}{r['trials']:>7}{r['pruned']:>7}{r['epochs']:>8}{r['epochs'] / base['epochs']:>16.2f}"
              f"{r['best_val_mae']:>14.5f}{(r['best_val_mae'] / base['best_val_mae'] - 1) * 100:>8.2f}%"
              f"{r['wall_s']:>9.1f}{r['storage_s']:>11.2f}{r['storage_s'] / r['wall_s'] * 100:>10.2f}%")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
