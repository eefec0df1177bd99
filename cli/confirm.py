"""Retrain a study's top configurations with fresh seeds on all folds, and rank them again.

The first `confirm` of a study enqueues (top_k + the defaults trial) x seeds runs, each training the
epochs its final refit will train, in a second study, <name>.confirm, in the
same storage; this process and any other `stocktune confirm` on the same study file (any machine that
reaches the storage) then run them, each run once, a killed one resumed. When all are done it prints
the confirmed ranking (mean over the seeds with its standard error) and the verdict on the winner;
`export` then uses the confirmed ranking.

example: stocktune confirm studies/sample.toml --top-k 3 --seeds 3
"""
from __future__ import annotations

import argparse
import sys

from cli.numbers import count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    from tuner.study_config import ConfirmConfig

    d = ConfirmConfig()  # the one place the defaults live
    p.add_argument("--top-k", type=count, default=None, metavar="K", help="configurations to retrain "
                   f"(default: [confirm] top_k, else {d.top_k})")
    p.add_argument("--seeds", type=count, default=None, metavar="S", help="fresh seeds per configuration "
                   f"(default: [confirm] seeds, else {d.seeds})")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--threads", type=count, default=None, metavar="T", help="CPU threads for training")


def run(args: argparse.Namespace) -> int:
    from cli.stopping import finish
    from tuner.confirm import summarize_confirmation
    from tuner.preflight import preflight
    from tuner.signals import StopFlag, Stopped
    from tuner.study_config import ConfirmConfig, load_study_config
    from tuner.verdict import format_verdict
    from tuner.worker import run_confirmation

    cfg = load_study_config(args.study, storage=args.storage)
    preflight(cfg)  # storage and device, before any data is prepared
    defaults = cfg.confirm or ConfirmConfig()
    # None: not given (0 never gets here: counts are checked by argparse, cli/numbers.py)
    top_k = defaults.top_k if args.top_k is None else args.top_k
    seeds = defaults.seeds if args.seeds is None else args.seeds
    stop = StopFlag().install()
    try:
        s = run_confirmation(cfg, top_k, seeds, threads=args.threads, stop=stop)
    except Stopped:  # during data preparation, or a second signal between runs
        return finish(stop, cfg, args, "confirm", "confirmation", confirm=(top_k, seeds))
    print(f"confirm worker done: {s.complete} runs complete, {s.requeued} interrupted, {s.failed} failed",
          file=sys.stderr)
    if stop:
        return finish(stop, cfg, args, "confirm", "confirmation", confirm=(top_k, seeds))
    rows = summarize_confirmation(cfg) or []
    print("confirmed ranking (mean over seeds of the folds' mean, standard error):")
    for r in rows:
        se = f"{r.se:.5f}" if r.se is not None else "-"
        original = f"{r.original:.5f}" if r.original is not None else "-"
        print(f"  {r.rank}. trial {r.trial}{' (the defaults)' if r.defaults else ''}: {cfg.metric}={r.mean:.5f} "
              f"(SE {se}, n={r.n}, {r.epochs} epochs; in the search {original})")
    from tuner.status import study_status

    print(format_verdict(study_status(cfg).verdict))
    return 1 if s.gave_up else 0

