"""Write the best trial as a run file that `stocktune fit --config` accepts unchanged.

The file has [data] (source + prep settings), [train] (the study's fixed settings merged with the
best params, device = "auto") and [result] (trial, value, best epoch and its validation metrics,
study, masked storage, dataset cache key, exported_at). With --top-k K, K files are written, one
per rank: --out best.toml gives best_1.toml ... best_K.toml. An existing file is replaced, with a
note on stderr; an --out that is a directory exits 2.

The verdict heads the file and its [result] (verdict_baselines, verdict_defaults). When the winner
is not better than the study's defaults arm, a warning on stderr says so and what to ship instead:
--defaults writes the defaults' configuration (the trial marked as the defaults arm) in the same form.

example: stocktune export studies/sample.toml --out best.toml && stocktune fit --config best.toml
         stocktune export studies/sample.toml --defaults --out defaults.toml
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuner.verdict import Verdict

from cli.numbers import count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    p.add_argument("--out", default=None, metavar="FILE", help="output run file (default: runs/<study>/best.toml)")
    p.add_argument("--top-k", type=count, default=1, metavar="K", help="write the K best trials, one file each")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--defaults", action="store_true",
                   help="write the defaults arm's configuration (what to ship when the search did not beat it)")


def run(args: argparse.Namespace) -> int:
    from tuner.export import export_best
    from tuner.study_config import load_study_config

    cfg = load_study_config(args.study, storage=args.storage)
    out = args.out or f"runs/{cfg.name}/best.toml"

    def replacing(path) -> None:
        print(f"stocktune export: note: replacing the existing {path}", file=sys.stderr)

    result = export_best(cfg, out, top_k=args.top_k, on_replace=replacing, defaults=args.defaults)
    if result.confirmed and not result.defaults:
        print("ranked by the confirmation runs (`stocktune confirm`): the best of fresh seeds, not of the search",
              file=sys.stderr)
    for line in verdict_warnings(result.verdict, args.study, result.defaults):
        print(f"stocktune export: WARNING: {line}", file=sys.stderr)
    for path in result.paths:
        print(path)
    return 0


def verdict_warnings(v: Verdict | None, study: str, exported_defaults: bool) -> list[str]:
    """What the verdict says against shipping the exported file, and what to ship instead."""
    from tuner.verdict import BETTER, NO_DEFAULTS, WINNER_IS_DEFAULTS

    if v is None:
        return []
    a, b = v.baselines, v.defaults
    out = []
    if not a.beats:
        out.append(f"the winner (trial {v.winner}) is {a.outcome}: its validation skill vs always-0.5 is "
                   f"{a.skill_half:+.2%} (SE {a.skill_half_se:.2%}), z {a.z:+.2f} below the bar {a.bar_z:.2f} of the "
                   f"best of {a.candidates} with no signal. Evaluate it on the test period before trusting "
                   "it (`stocktune evaluate`).")
    if exported_defaults or b.outcome == BETTER:
        return out
    if b.outcome == WINNER_IS_DEFAULTS:
        out.append(f"the search's winner is its defaults arm (trial {v.winner}): tuning did not pay; the file holds "
                   "the default configuration.")
    elif b.outcome == NO_DEFAULTS:
        out.append("this study has no defaults arm, so nothing says the winner is better than not tuning; "
                   "evaluate the untuned configuration on the test period too.")
    else:
        out.append(f"the winner (trial {v.winner}) is {b.outcome} (trial {b.defaults_trial}): ship the defaults' "
                   f"configuration, written by `stocktune export {study} --defaults`.")
    return out
