"""Run one Optuna worker: pull trials from the shared study until its budget or timeout is reached.

Loads (or creates) the study named in STUDY.toml in its storage (SQLite file or PostgreSQL), prepares
the dataset once (cached and memory-mapped), and trains trial after trial with per-epoch pruning.
Start as many as you like, on as many machines as can reach the storage; the budget (n_trials,
counting COMPLETE + PRUNED) is global. SIGTERM/Ctrl-C stops after the current epoch, re-queues the
trial (it resumes from its checkpoint) and exits 143 / 130 (a second one stops at once).

example: stocktune worker studies/sample.toml --threads 2
"""
from __future__ import annotations

import argparse
import sys

from cli.numbers import count
from common import env


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--n-trials", type=count, default=None, metavar="N",
                   help="override the study's global budget (COMPLETE + PRUNED trials)")
    p.add_argument("--storage", default=env.get("STOCKTUNE_WORKER_STORAGE"), metavar="URL",
                   help="override the study's storage URL (sqlite:///PATH or postgresql+psycopg://...); "
                        "default $STOCKTUNE_WORKER_STORAGE (how `launch` passes it, out of sight of `ps`)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop starting new trials after S seconds")
    p.add_argument("--threads", type=count, default=None, metavar="T", help="CPU threads for training")
    p.add_argument("--progress", action="store_true", help="show data-prep progress")
    p.add_argument("--worker-index", type=int, default=None, metavar="I",
                   help="offsets the sampler seed (seed + I) so workers draw different points; default: "
                        "$STOCKTUNE_WORKER_INDEX (set by `launch`), else derived from the process id")


def run(args: argparse.Namespace) -> int:
    from cli.stopping import finish
    from common.errors import InputError
    from tuner.preflight import preflight
    from tuner.signals import StopFlag, Stopped
    from tuner.study_config import load_study_config
    from tuner.worker import run_worker

    cfg = load_study_config(args.study, storage=args.storage, n_trials=args.n_trials, timeout=args.timeout)
    if args.worker_index is not None and args.worker_index < 0:
        raise InputError(f"--worker-index must be >= 0, but got --worker-index {args.worker_index}.")
    preflight(cfg)  # storage and device, before the dataset is prepared
    stop = StopFlag().install()
    # launch passes --storage in the environment: the resume line must not spell it out
    hidden = args.storage is not None and args.storage == env.get("STOCKTUNE_WORKER_STORAGE")
    shown = argparse.Namespace(**{**vars(args), **({"storage": None} if hidden else {})})
    try:
        s = run_worker(cfg, threads=args.threads, progress=args.progress, worker_index=args.worker_index, stop=stop)
    except Stopped:  # during data preparation, or a second signal between trials
        return finish(stop, cfg, shown, "worker", "")
    print(f"worker done: {s.complete} complete, {s.pruned} pruned, {s.requeued} interrupted, {s.failed} failed"
          f"{' (gave up: too many failures in a row)' if s.gave_up else ''}", file=sys.stderr)
    if stop:
        return finish(stop, cfg, shown, "worker", "")
    return 1 if s.gave_up else 0
