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
import logging
import sys
from pathlib import Path
from typing import Any

from common.errors import InputError

log = logging.getLogger(__name__)

# shown per epoch and in the summary, in this order
_COLUMNS = ("epoch", "train_loss", "val_mae", "val_rmse", "val_dir_acc", "val_ic", "val_skill_half",
            "epoch_time_s", "samples_per_s")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="run file: [data], [train], optional [result]")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="override the number of epochs")
    p.add_argument("--device", default=None, metavar="D", help="override [train].device (auto|cpu|cuda[:N])")
    p.add_argument("--out", default=None, metavar="DIR", help="save the model directory here")
    p.add_argument("--final", action="store_true",
                   help="retrain on train+val for [result].best_epoch epochs (needs --out)")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="write a checkpoint here after every epoch")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="prepared-dataset cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _best_epoch(result: dict[str, Any], where: str) -> int | None:
    value = result.get("best_epoch")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"best_epoch must be a positive integer, but got best_epoch={value!r} ({where}, [result]).")
    return value


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.4f}"
    return str(v)


def run(args: argparse.Namespace) -> int:
    from common.env import cache_root as default_cache_root
    from model.run_file import load_run_config

    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, but got --epochs {args.epochs}.")
    if args.final and not args.out:
        raise InputError("--final needs --out DIR: a final refit exists to save the model it trains.")
    overrides: dict[str, Any] = {}
    if args.device is not None:
        overrides["device"] = args.device
    rc = load_run_config(args.config, train_overrides=overrides)
    cfg = rc.train
    best_epoch = _best_epoch(rc.result, str(args.config))
    if args.final:
        epochs = args.epochs or best_epoch or cfg.epochs
        cfg = load_run_config(args.config, train_overrides={
            **overrides, "epochs": epochs, "train_splits": ["train", "val"], "eval_split": None}).train
    elif args.epochs is not None:
        cfg = load_run_config(args.config, train_overrides={**overrides, "epochs": args.epochs}).train
    log.info("resolved [data]: %s", rc.data.to_mapping())
    log.info("resolved [train]: %s", cfg.to_mapping())
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")

    import data_prep
    import model
    from tqdm import tqdm

    cache_root = Path(args.cache) if args.cache else default_cache_root()
    prep = data_prep.prepare(rc.data.source, rc.data.prep, cache_root, progress=not args.quiet)
    dataset = prep.dataset()
    print(f"dataset {prep.path} ({'cached' if prep.cached else 'built'}), "
          + ", ".join(f"{s}={len(a)}" for s, a in dataset.splits.items()) + " windows", file=sys.stderr)

    bar = tqdm(total=cfg.epochs, desc="fit (final)" if args.final else "fit", unit="epoch", file=sys.stderr,
               disable=args.quiet, dynamic_ncols=True)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        post = {"loss": f"{metrics['train_loss']:.4f}"}
        if "val_mae" in metrics:
            post["val_mae"] = f"{metrics['val_mae']:.4f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)
        return True

    try:
        result = model.fit(dataset, cfg, on_epoch=on_epoch, checkpoint_path=args.checkpoint,
                           resume_from=args.resume)
    finally:
        bar.close()

    cols = [c for c in _COLUMNS if c in result.history[0]]
    print("  ".join(f"{c:>12}" for c in cols))
    for h in result.history:
        print("  ".join(f"{_fmt(h[c]):>12}" for c in cols))
    print(f"\n{'final refit' if args.final else 'best epoch'}: {result.best_epoch} of {len(result.history)} "
          f"(device {result.device})")
    for key, value in result.best_metrics.items():
        print(f"  {key:<18} {_fmt(value)}")

    if out is not None:
        extra = {"best_epoch": result.best_epoch, "best_metrics": result.best_metrics, "final": bool(args.final),
                 "epochs": len(result.history), "dataset_dir": str(Path(prep.path).resolve()),
                 "cache_key": dataset.cache_key, "source": rc.data.source, "run_config": str(args.config),
                 "result": rc.result}
        model.save_model(out, result.model, result.config or cfg, dataset.meta, extra)
        print(f"model saved to {out}")
    return 0
