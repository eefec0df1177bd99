"""Train one model from a run file ([data] + [train], optionally [result] from `stocktune export`).

Prepares (or finds in the cache) the dataset named by [data], then trains with a per-epoch progress
bar on stderr and prints the metrics per epoch and of the best epoch.

  --out DIR            save the model directory (best epoch) for `stocktune evaluate` / `predict`
  --final --out DIR    retrain on train + validation for [result].best_epoch epochs (else [train].epochs)
  --checkpoint PATH    write a checkpoint after every epoch; --resume PATH continues from one
An ensemble run file (`export --ensemble`) needs --final --out DIR: its members train one after
the other into one model directory, which `evaluate`/`predict` average.

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
from model.run_file import RunConfig, load_run_config


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
    from model.refit import fit_run, prepare_run, save_fit, train_config_for

    if args.final and not args.out:
        raise InputError("--final needs --out DIR: a final refit exists to save the model it trains.")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")
    rc = load_run_config(args.config, train_overrides={"device": args.device} if args.device else None)
    if rc.members:
        return _fit_ensemble(args, rc, out)
    cfg = train_config_for(rc, final=args.final, epochs=args.epochs)
    threads = resolve_threads(args.threads, cfg.threads)
    # prepared before the bar starts: prep's own lines would otherwise land on the bar
    prep = prepare_run(rc, [cfg], Path(args.cache) if args.cache else cache_root(), progress=not args.quiet,
                       device_where="--device" if args.device else f"{args.config}, [train]")
    with epoch_bar(cfg.epochs, "fit (final)" if args.final else "fit", disable=args.quiet) as on_epoch:
        run_ = fit_run(prep, cfg, final=args.final, on_epoch=on_epoch, checkpoint=args.checkpoint, resume=args.resume,
                       threads=threads)
    print(f"dataset {run_.prep.path} ({'cached' if run_.prep.cached else 'built'})", file=sys.stderr)
    r = run_.result
    print(f"{format_history(r.history)}\n\n{'final refit' if args.final else 'best epoch'}: {r.best_epoch} of "
          f"{len(r.history)} (device {r.device}, threads {threads})\n{format_history([r.best_metrics], transpose=True)}")
    if out is not None:
        save_fit(out, run_, rc)
        print(f"model saved to {out}")
    return 0


def _fit_ensemble(args: argparse.Namespace, rc: RunConfig, out: Path | None) -> int:
    """Every member of an ensemble run file on one prepared dataset, then one model directory."""
    from common.cpus import resolve_threads
    from model.refit import check_ensemble_fit, fit_members, member_configs, prepare_run, save_members

    check_ensemble_fit(rc, args.final, out, args.checkpoint or args.resume)
    members = member_configs(rc, epochs=args.epochs)
    threads = resolve_threads(args.threads, members[0][1].threads)
    prep = prepare_run(rc, [c for _, c in members], Path(args.cache) if args.cache else cache_root(),
                       progress=not args.quiet, device_where="--device" if args.device else f"{args.config}, [[members]]")
    runs = fit_members(prep, members, threads=threads, bar=lambda n, desc: epoch_bar(n, desc, disable=args.quiet),
                       say=lambda line: print(line, file=sys.stderr))
    save_members(out, runs, rc)
    print(f"ensemble of {len(runs)} members (device {runs[0].result.device}, threads {threads}) saved to {out}")
    return 0
