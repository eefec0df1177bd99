"""Show a study: trials by state, the best trial (params and metrics), running trials and heartbeats,
and the verdict on the winner: (a) does it beat the naive baselines, (b) does it beat the defaults.

The storage URL is shown with its password masked.

example: stocktune status studies/sample.toml
"""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from tuner.status import format_status, study_status
    from tuner.study_config import load_study_config

    s = study_status(load_study_config(args.study, storage=args.storage))
    print(json.dumps(s.to_json(), indent=2, default=str) if args.json else format_status(s))
    return 0
