"""Train one model from a run file ([data] + [train], optionally [result] from `stocktune export`).

Prepares (or loads from the cache) the dataset named by [data], trains with a per-epoch progress bar
on stderr and prints the metrics per epoch and of the best epoch. An exported best config is
accepted unchanged.

  --out DIR            save the best epoch's model directory (model.pt, config.json, dataset_meta.json,
                       extra.json) for `stocktune evaluate` / `predict`
  --final --out DIR    retrain on train + validation, with no evaluation, for [result].best_epoch
                       epochs when present (else [train].epochs), and save that model
  --checkpoint PATH    write a checkpoint after every epoch; --resume PATH continues from one

examples:
  stocktune fit --config runs/best.toml
  stocktune fit --config runs/best.toml --final --out runs/final_model
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.numbers import count
from cli.progress import epoch_bar, format_history
from common.env import cache_root
from common.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="run file: [data], [train], optional [result]")
    p.add_argument("--epochs", type=count, default=None, metavar="N", help="override the number of epochs")
    p.add_argument("--device", default=None, metavar="D", help="override [train].device (auto|cpu|cuda[:N])")
    p.add_argument("--out", default=None, metavar="DIR", help="save the model directory here")
    p.add_argument("--final", action="store_true",
                   help="retrain on train+val for [result].best_epoch epochs (needs --out)")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="write a checkpoint here after every epoch")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="prepared-dataset cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    p.add_argument("--threads", type=count, default=None, metavar="T",
                   help="CPU threads (default: [train] threads, else $OMP_NUM_THREADS, else the cores the "
                        "1-minute load average leaves free, 1-8; docs/model.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from common.cpus import resolve_threads
    from model.final import fit_run, save_fit, train_config_for
    from model.run_file import load_run_config

    if args.final and not args.out:
        raise InputError("--final needs --out DIR: a final refit exists to save the model it trains.")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")
    rc = load_run_config(args.config, train_overrides={"device": args.device} if args.device else None)
    cfg = train_config_for(rc, final=args.final, epochs=args.epochs)
    threads = resolve_threads(args.threads, cfg.threads)
    with epoch_bar(cfg.epochs, "fit (final)" if args.final else "fit", disable=args.quiet) as on_epoch:
        run_ = fit_run(rc, cfg, Path(args.cache) if args.cache else cache_root(), final=args.final,
                       progress=not args.quiet, on_epoch=on_epoch, checkpoint=args.checkpoint, resume=args.resume,
                       threads=threads, device_where="--device" if args.device else f"{args.config}, [train]")
    print(f"dataset {run_.prep.path} ({'cached' if run_.prep.cached else 'built'})", file=sys.stderr)
    r = run_.result
    print(format_history(r.history))
    print(f"\n{'final refit' if args.final else 'best epoch'}: {r.best_epoch} of {len(r.history)} (device {r.device}, threads {threads})")
    print(format_history([r.best_metrics], transpose=True))
    if out is not None:
        save_fit(out, run_, rc)
        print(f"model saved to {out}")
    return 0
