"""Tune a study end to end on this machine: prepare the data, run local workers, show the best trial.

Defaults to studies/sample.toml (the bundled sample stocks, SQLite storage under runs/): the whole
search runs with no setup. Uses the study's [worker] n_workers (or --workers); the data is
prepared once, with progress, before the workers start, so they all open the same cached dataset.

example: stocktune tune            # = stocktune tune studies/sample.toml
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_STUDY = "studies/sample.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", nargs="?", default=DEFAULT_STUDY,
                   help=f"the study file (default: {DEFAULT_STUDY})")
    from cli.launch import add_worker_options

    add_worker_options(p)


def run(args: argparse.Namespace) -> int:
    from cli.launch import resolve, worker_args
    from common.env import cache_root as default_cache_root
    from data_prep import prepare
    from data_prep.folds import plan_folds
    from tuner.launcher import launch
    from tuner.status import format_status, study_status

    cfg, n, k, threads = resolve(args)
    t0 = time.monotonic()
    print(f"preparing data: {cfg.data.source}", file=sys.stderr)
    prep = prepare(cfg.data.source, cfg.data.prep, default_cache_root(), progress=True)
    print(f"dataset {'(cached) ' if prep.cached else ''}{prep.path}", file=sys.stderr)
    folds = plan_folds(prep.dataset(), cfg.validation, f"{cfg.path}, [validation]")  # exit 2 before any worker
    print(f"study {cfg.name}: {cfg.n_trials} trials on {len(folds)} fold(s), {n} workers, storage "
          f"{cfg.storage_masked}", file=sys.stderr)
    rc = launch(cfg, Path(args.study), n, workers_per_gpu=k, threads=threads, extra_args=worker_args(args),
                verbose=getattr(args, "verbose", False), storage=args.storage)
    if rc == 0 and cfg.confirm is not None:
        print(f"confirming the top {cfg.confirm.top_k} with {cfg.confirm.seeds} fresh seeds each", file=sys.stderr)
        rc = launch(cfg, Path(args.study), n, workers_per_gpu=k, threads=threads, verbose=getattr(args, "verbose", False),
                    storage=args.storage, confirm=(cfg.confirm.top_k, cfg.confirm.seeds))
    s = study_status(cfg)
    print(format_status(s))
    print(f"\nwall time {time.monotonic() - t0:.0f}s")
    if s.best is not None:
        print(f"next:\n  stocktune dashboard {args.study}          # browse trials, curves, notes"
              + ("" if cfg.confirm else f"\n  stocktune confirm {args.study}            # retrain the top 5 with 3 seeds")
              + f"\n  stocktune export {args.study} --out best.toml"
              f"\n  stocktune fit --config best.toml")
    return rc
