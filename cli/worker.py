"""Run one Optuna worker: pull trials from the shared study until its budget or timeout is reached.

Loads (or creates) the study named in STUDY.toml in its storage (SQLite file or PostgreSQL), prepares
the dataset once (cached and memory-mapped), and trains trial after trial with per-epoch pruning.
Start as many as you like, on as many machines as can reach the storage; the budget (n_trials,
counting COMPLETE + PRUNED) is global. SIGTERM/Ctrl-C stops after the current epoch, re-queues the
trial (it resumes from its checkpoint) and exits 0.

example: stocktune worker studies/sample.toml --threads 2
"""
from __future__ import annotations

import argparse
import sys

from common import env


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--n-trials", type=int, default=None, metavar="N",
                   help="override the study's global budget (COMPLETE + PRUNED trials)")
    p.add_argument("--storage", default=env.get("STOCKTUNE_WORKER_STORAGE"), metavar="URL",
                   help="override the study's storage URL (sqlite:///PATH or postgresql+psycopg://...); "
                        "default $STOCKTUNE_WORKER_STORAGE (how `launch` passes it, out of sight of `ps`)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop starting new trials after S seconds")
    p.add_argument("--threads", type=int, default=None, metavar="T", help="CPU threads for training")
    p.add_argument("--progress", action="store_true", help="show data-prep progress")
    p.add_argument("--worker-index", type=int, default=None, metavar="I",
                   help="offsets the sampler seed (seed + I) so workers draw different points; default: "
                        "$STOCKTUNE_WORKER_INDEX (set by `launch`), else derived from the process id")


def run(args: argparse.Namespace) -> int:
    from common.errors import InputError
    from tuner.preflight import preflight
    from tuner.study_config import load_study_config
    from tuner.worker import run_worker

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, but got --threads {args.threads}.")
    cfg = load_study_config(args.study, storage=args.storage, n_trials=args.n_trials, timeout=args.timeout)
    if args.worker_index is not None and args.worker_index < 0:
        raise InputError(f"--worker-index must be >= 0, but got --worker-index {args.worker_index}.")
    preflight(cfg)  # storage and device, before the dataset is prepared
    s = run_worker(cfg, threads=args.threads, progress=args.progress, worker_index=args.worker_index)
    print(f"worker done: {s.complete} complete, {s.pruned} pruned, {s.failed} failed"
          f"{' (stopped by signal)' if s.interrupted else ''}"
          f"{' (gave up: too many failures in a row)' if s.gave_up else ''}", file=sys.stderr)
    return 1 if s.gave_up else 0
