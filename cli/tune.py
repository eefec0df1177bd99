"""Tune a study end to end on this machine: prepare the data, run local workers, show the best trial.

Defaults to studies/sample.toml (the bundled sample stocks, SQLite storage under runs/): the whole
search runs with no setup. Uses the study's [worker] n_workers (or --workers); the data is
prepared once, with progress, before the workers start, so they all open the same cached dataset.
Ctrl-C / SIGTERM in any phase (data, search, confirmation) stops the command after the workers have
re-queued their trials (a second one at once): no next phase starts, it exits 130 / 143 and says
what was finished and the command that resumes.

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
    from cli.stopping import finish
    from common.env import cache_root as default_cache_root
    from data_prep import prepare
    from data_prep.folds import plan_folds
    from tuner.launcher import launch
    from tuner.signals import StopFlag, Stopped
    from tuner.status import format_status, study_status
    from tuner.study_config import ConfirmConfig

    cfg, n, k, threads = resolve(args)
    stop = StopFlag().install()  # one for the whole command: a stop in any phase ends it (tuner/signals.py)
    confirm = (cfg.confirm.top_k, cfg.confirm.seeds) if cfg.confirm is not None else None
    t0 = time.monotonic()
    print(f"preparing data: {cfg.data.source}", file=sys.stderr)
    try:
        with stop.immediately():
            prep = prepare(cfg.data.source, cfg.data.prep, default_cache_root(), progress=True)
            print(f"dataset {'(cached) ' if prep.cached else ''}{prep.path}", file=sys.stderr)
            folds = plan_folds(prep.dataset(), cfg.validation, f"{cfg.path}, [validation]")  # exit 2 before any worker
    except Stopped:
        return finish(stop, cfg, args, "tune", "prep", confirm=confirm)
    print(f"study {cfg.name}: {cfg.n_trials} trials on {len(folds)} fold(s), {n} workers, storage "
          f"{cfg.storage_masked}", file=sys.stderr)
    common = dict(workers_per_gpu=k, threads=threads, verbose=getattr(args, "verbose", False), storage=args.storage,
                  stop=stop)
    rc = launch(cfg, Path(args.study), n, extra_args=worker_args(args), **common)
    if stop:
        return finish(stop, cfg, args, "tune", "search", confirm=confirm)
    if rc == 0 and confirm is not None:
        print(f"confirming the top {confirm[0]} with {confirm[1]} fresh seeds each", file=sys.stderr)
        rc = launch(cfg, Path(args.study), n, confirm=confirm, **common)
        if stop:
            return finish(stop, cfg, args, "tune", "confirmation", confirm=confirm)
    s = study_status(cfg)
    print(format_status(s))
    print(f"\nwall time {time.monotonic() - t0:.0f}s")
    if s.best is not None:
        d = ConfirmConfig()
        print(f"next:\n  stocktune dashboard {args.study}          # browse trials, curves, notes"
              + ("" if cfg.confirm else f"\n  stocktune confirm {args.study}            "
                                        f"# retrain the top {d.top_k} with {d.seeds} seeds")
              + f"\n  stocktune export {args.study} --out best.toml"
              f"\n  stocktune fit --config best.toml")
    return stop.exit_code or rc  # a stop after the last phase still says the command was stopped
