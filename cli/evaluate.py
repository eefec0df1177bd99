"""Score a final model on the untouched TEST period, next to shuffled-label controls.

Reads MODEL_DIR (written by `stocktune fit --config best.toml --final --out MODEL_DIR`), finds the
dataset it was trained on in the cache (by its key; else prepares the recorded source again) and
scores the test period that tuning never read: MAE, skill vs always-0.5 and always-the-train-mean,
rank IC per date (mean, overlap-aware standard error, ICIR), directional accuracy and a calibration
table (prediction decile vs realized rise rate).

--control (the default) also trains the same config on SHUFFLED training labels, --controls K
times with their own seeds. Their IC must be about 0; beyond 3 standard errors it is flagged as a
leak (printed and in the JSON; the exit code stays 0). Writes evaluation.json and eval_*.png into
MODEL_DIR (or --out) and prints a table.

example: stocktune evaluate runs/final_model
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.numbers import count
from cli.progress import epoch_bar
from common.env import cache_root
from common.errors import InputError

CONTROL_SEED = 12345


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a model directory from `stocktune fit --final --out`")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="prepared-dataset cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                   help="also train shuffled-label controls (the leak detector; each costs one training run)")
    p.add_argument("--controls", metavar="K", type=count, default=3,
                   help="how many independently seeded controls (default 3; 1 is cheaper but cannot tell a "
                        "random-function IC from a leak as well)")
    p.add_argument("--control-seed", metavar="S", type=int, default=CONTROL_SEED,
                   help=f"seed of the first control (shuffle and init; default {CONTROL_SEED})")
    p.add_argument("--out", metavar="DIR", default=None, help="where to write evaluation.json and plots "
                                                            "(default: MODEL_DIR)")
    p.add_argument("--device", default=None, help="override the model's device (auto|cpu|cuda[:N])")
    p.add_argument("--threads", type=count, default=None, metavar="T",
                   help="CPU threads (default: $OMP_NUM_THREADS, else the cores the 1-minute load average "
                        "leaves free, 1-8; docs/model.md)")
    p.add_argument("--bins", type=count, default=10, help="calibration bins (quantiles of the prediction)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args: argparse.Namespace) -> int:
    from common.cpus import resolve_threads
    from model.evaluation_text import format_evaluation
    from model.final import check_model_dir, evaluate_model_dir, read_train_config, write_evaluation

    if args.controls < 1:
        raise InputError(f"--controls must be >= 1 (or use --no-control), but got --controls={args.controls}.")
    check_model_dir(args.model_dir)
    out_dir = Path(args.out or args.model_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory.")
    n = args.controls if args.control else 0
    threads = resolve_threads(args.threads)
    with epoch_bar(read_train_config(args.model_dir).epochs * n, "controls (shuffled labels)", disable=True if n == 0 else None) as on_epoch:
        ev = evaluate_model_dir(args.model_dir, Path(args.cache) if args.cache else cache_root(), n_controls=n,
                                control_seed=args.control_seed, device=args.device, n_bins=args.bins,
                                on_control_epoch=on_epoch, threads=threads)
    path = write_evaluation(out_dir, ev, plots=not args.no_plots)
    print(format_evaluation(ev.result))
    print(f"\nwrote {path}" + ("" if args.no_plots else " and plots"))
    return 0
