"""Retrain a study's top configurations with fresh seeds on all folds, and rank them again.

The first `confirm` of a study enqueues top_k x seeds runs in a second study, <name>.confirm, in the
same storage; this process and any other `stocktune confirm` on the same study file (any machine that
reaches the storage) then run them, each run once, a killed one resumed. When all are done it prints
the confirmed ranking (mean over the seeds with its standard error) and the verdict on the winner;
`export` then uses the confirmed ranking.

example: stocktune confirm studies/sample.toml --top-k 5 --seeds 3
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="configurations to retrain "
                   "(default: [confirm] top_k, else 5)")
    p.add_argument("--seeds", type=int, default=None, metavar="S", help="fresh seeds per configuration "
                   "(default: [confirm] seeds, else 3)")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--threads", type=int, default=None, metavar="T", help="CPU threads for training")


def run(args: argparse.Namespace) -> int:
    from tuner.confirm import summarize_confirmation
    from tuner.preflight import preflight
    from tuner.study_config import ConfirmConfig, load_study_config
    from tuner.verdict import format_verdict
    from tuner.worker import run_confirmation

    cfg = load_study_config(args.study, storage=args.storage)
    preflight(cfg)  # storage and device, before any data is prepared
    defaults = cfg.confirm or ConfirmConfig()
    s = run_confirmation(cfg, args.top_k or defaults.top_k, args.seeds or defaults.seeds, threads=args.threads)
    print(f"confirm worker done: {s.complete} runs complete, {s.failed} failed"
          f"{' (stopped by signal)' if s.interrupted else ''}", file=sys.stderr)
    rows = summarize_confirmation(cfg) or []
    print("confirmed ranking (mean over seeds of the folds' mean, standard error):")
    for r in rows:
        se = f"{r['se']:.5f}" if r["se"] is not None else "-"
        print(f"  {r['rank']}. trial {r['trial']}: {cfg.metric}={r['mean']:.5f} (SE {se}, n={r['n']}; "
              f"in the search {r['original']:.5f})")
    from tuner.status import study_status

    print(format_verdict(study_status(cfg).verdict))
    return 1 if s.gave_up else 0
