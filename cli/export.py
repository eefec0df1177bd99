"""Write the best trial as a run file that `stocktune fit --config` accepts unchanged.

The file has [data] (source + prep settings), [train] (the study's fixed settings merged with the
best params, device = "auto") and [result] (trial, value, best epoch and its validation metrics,
study, masked storage, dataset cache key, exported_at). With --top-k K, K files are written, one
per rank: --out best.toml gives best_1.toml ... best_K.toml. An existing file is replaced, with a
note on stderr; an --out that is a directory exits 2.

--ensemble writes ONE run file whose members are the confirmed configurations x their confirmation
seeds (`stocktune confirm` first; --top-k K keeps the K best configurations); `stocktune fit --final`
trains every member into one model directory, and `evaluate`/`predict` average them.
The verdict heads the file and its [result] (verdict_baselines, verdict_defaults). When the winner
is not better than the study's defaults arm, a warning on stderr says so and what to ship instead:
for a confirmed study the --ensemble; else the defaults, which --defaults writes (the trial marked as
the defaults arm) in the same form.

example: stocktune export studies/sample.toml --out best.toml && stocktune fit --config best.toml
         stocktune export studies/sample.toml --defaults --out defaults.toml
"""
from __future__ import annotations

import argparse
import sys

from cli.numbers import count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--out", default=None, metavar="FILE", help="output run file (default: runs/<study>/best.toml)")
    p.add_argument("--top-k", type=count, default=None, metavar="K",
                   help="write the K best trials, one file each (with --ensemble: the K best confirmed configurations)")
    p.add_argument("--ensemble", action="store_true",
                   help="one run file of the confirmed configurations x their confirmation seeds (docs/final-model.md)")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--defaults", action="store_true",
                   help="write the defaults arm's configuration (what to ship when the search did not beat it)")


def run(args: argparse.Namespace) -> int:
    from tuner.export import export_best, verdict_warnings
    from tuner.study_config import load_study_config

    cfg = load_study_config(args.study, storage=args.storage)
    out = args.out or f"runs/{cfg.name}/best.toml"

    def replacing(path) -> None:
        print(f"stocktune export: note: replacing the existing {path}", file=sys.stderr)

    if args.ensemble:
        if args.defaults:
            from common.errors import InputError

            raise InputError("--ensemble and --defaults each write a different model; give one of them.")
        from tuner.export_ensemble import export_ensemble

        print(export_ensemble(cfg, out, top_k=args.top_k, on_replace=replacing))
        return 0
    result = export_best(cfg, out, top_k=1 if args.top_k is None else args.top_k, on_replace=replacing,
                         defaults=args.defaults)
    if result.confirmed and not result.defaults:
        print("ranked by the confirmation runs (`stocktune confirm`): the best of fresh seeds, not of the search",
              file=sys.stderr)
    for line in verdict_warnings(result.verdict, args.study, result.defaults):
        print(f"stocktune export: WARNING: {line}", file=sys.stderr)
    for path in result.paths:
        print(path)
    return 0
