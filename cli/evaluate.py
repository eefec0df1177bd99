"""Score a final model on the untouched TEST period, next to a shuffled-label control.

Reads MODEL_DIR (written by `stocktune fit --config best.toml --final --out MODEL_DIR`), loads the
same prepared dataset through the cache (source + prep settings stored in the model dir), and
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
import datetime as _dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from common.errors import InputError

CONTROL_SEED = 12345


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a model directory from `stocktune fit --final --out`")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="prepared-dataset cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                   help="also train shuffled-label controls (the leak detector; each costs one training run)")
    p.add_argument("--controls", metavar="K", type=int, default=3,
                   help="how many independently seeded controls (default 3; 1 is cheaper but cannot tell a "
                        "random-function IC from a leak as well)")
    p.add_argument("--control-seed", metavar="S", type=int, default=CONTROL_SEED,
                   help=f"seed of the first control (shuffle and init; default {CONTROL_SEED})")
    p.add_argument("--out", metavar="DIR", default=None, help="where to write evaluation.json and plots "
                                                            "(default: MODEL_DIR)")
    p.add_argument("--device", default=None, help="override the model's device (auto|cpu|cuda[:N])")
    p.add_argument("--bins", type=int, default=10, help="calibration bins (quantiles of the prediction)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


HINT = "create one with `stocktune fit --config best.toml --final --out MODEL_DIR`"


def check_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """Check MODEL_DIR's files and return its dataset meta, without importing torch (fast errors)."""
    path = Path(model_dir)
    if not path.is_dir():
        raise InputError(f"MODEL_DIR {path} does not exist or is not a directory; {HINT}.")
    missing = [f for f in ("model.pt", "config.json", "dataset_meta.json") if not (path / f).is_file()]
    if missing:
        raise InputError(f"{path} is not a model directory (missing {', '.join(missing)}); {HINT}.")
    try:
        meta = json.loads((path / "dataset_meta.json").read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path / 'dataset_meta.json'} is not valid JSON ({e}); {HINT}.") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("source"), str) or not isinstance(meta.get("prep"), dict):
        raise InputError(f"{path / 'dataset_meta.json'} has no `source`/`prep` entries, so the data cannot be "
                         f"prepared the same way; {HINT}.")
    return meta


def load_model_dir(model_dir: str | Path):
    """``model.load_model`` with the errors a user can cause turned into InputError."""
    import model

    path = Path(model_dir)
    check_model_dir(path)
    try:
        return model.load_model(path)
    except InputError:
        raise
    except Exception as e:  # a truncated or foreign file: say which dir and what to do
        raise InputError(f"{path} holds a model that cannot be loaded ({type(e).__name__}: {e}); {HINT}.") from None


def load_dataset_for(loaded, model_dir: Path, cache: str | None, progress: bool = True):
    """The prepared dataset the model was trained on, through the content-addressed cache."""
    import data_prep
    from data_prep.config import PrepConfig
    from common.env import cache_root as default_cache_root

    meta = loaded.meta
    source = meta["source"]
    prep = PrepConfig.from_mapping(meta["prep"], f"{model_dir / 'dataset_meta.json'}, prep")
    cache_root = Path(cache) if cache else default_cache_root()
    result = data_prep.prepare(source, prep, cache_root, progress=progress)
    dataset = result.dataset()
    trained_key = str(meta.get("cache_key", ""))
    if trained_key and dataset.cache_key != trained_key:
        print(f"warning: the data behind {source!r} changed since the model was trained (cache key "
              f"{trained_key[:12]} -> {dataset.cache_key[:12]}); the test period and the scaling may differ.",
              file=sys.stderr)
    return dataset, result


def period_info(dataset) -> dict[str, Any]:
    """Each split's period and window-end dates, and the trading days between val and test.

    ``start``/``end`` are the split's whole period as data_prep records it (first input row to last
    target day), so ``val_test_gap_trading_days`` counts the days that NO validation target and NO
    test input touch; it must be at least ``required_gap_days`` (purge gap + embargo).
    """
    import numpy as np

    dates = np.unique(np.asarray(dataset.date, "datetime64[D]"))
    recorded = dataset.meta.get("splits", {})
    out: dict[str, Any] = {}
    for s in ("train", "val", "test"):
        if s in dataset.splits and len(dataset.splits[s]):
            d = np.asarray(dataset.window_dates(s), "datetime64[D]")
            rec = recorded.get(s, {})
            out[s] = {"start": str(rec.get("start", d.min())), "end": str(rec.get("end", d.max())),
                      "first_window_end": str(d.min()), "last_window_end": str(d.max()),
                      "n_windows": int(d.size), "n_dates": int(np.unique(d).size)}
    prep = dataset.meta.get("prep", {})
    gap = dataset.meta.get("purge_gap_days")
    if gap is None:
        gap = (prep.get("purge_gap") or dataset.look_ahead) + int(prep.get("embargo", 0) or 0)
    for a, b in (("train", "val"), ("val", "test")):
        if a in out and b in out:
            between = (dates > np.datetime64(out[a]["end"])) & (dates < np.datetime64(out[b]["start"]))
            out[f"{a}_{b}_gap_trading_days"] = int(between.sum())
    out["required_gap_days"] = int(gap)
    out["test_after_val_gap"] = bool(out.get("val_test_gap_trading_days", -1) >= gap)
    return out


def _fmt(v: Any, spec: str) -> str:
    if v is None:
        return "-"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def format_report(ev: dict[str, Any]) -> str:
    """The human-readable table printed by the command."""
    periods = ev["periods"]
    t = periods.get("test", {})
    runs = [r for r in ("model", "control") if r in ev]
    lines = [f"Test period {t.get('start')} .. {t.get('end')} (tuning never read it): {t.get('n_windows')} windows "
             f"ending {t.get('first_window_end')} .. {t.get('last_window_end')} on {t.get('n_dates')} dates",
             f"Model trained on {'+'.join(ev['train_splits'])} up to {periods.get('val', periods.get('train', {})).get('end')}; "
             f"{periods.get('val_test_gap_trading_days')} trading days between the last validation target and the "
             f"first test input (required: {periods['required_gap_days']})", ""]
    if not periods.get("test_after_val_gap", False):
        lines.insert(0, "WARNING: the test period is not separated from the training data by the purge gap.")
    rows = [("MAE", "mae", ".4f"), ("RMSE", "rmse", ".4f"), ("baseline MAE, always 0.5", "baseline_mae_half", ".4f"),
            ("baseline MAE, train mean", "baseline_mae_mean", ".4f"), ("skill vs 0.5", "skill_half", "+.4f"),
            ("skill vs train mean", "skill_mean", "+.4f"), ("rank IC (mean per date)", "ic", "+.4f"),
            ("  standard error", "ic_se", ".4f"), ("  t-stat", "ic_t", "+.2f"), ("ICIR", "icir", "+.3f"),
            ("dates with IC > 0", "ic_positive_frac", ".1%"), ("directional accuracy", "dir_acc", ".2%"),
            ("  vs sign of return", "dir_acc_ret", ".2%"), ("prediction std", "pred_std", ".4f")]
    w = max(len(r[0]) for r in rows) + 2
    heads = {"model": "model", "control": f"control x{ev['control']['n_controls']}" if "control" in ev else ""}
    lines.append("".ljust(w) + "".join(f"{heads[r]:>12}" for r in runs))
    for label, key, spec in rows:
        lines.append(label.ljust(w) + "".join(f"{_fmt(ev[r].get(key), spec):>12}" for r in runs))
    lines += ["", "Calibration (model): prediction decile vs realized",
              f"{'bin':>4} {'n':>7} {'pred mean':>10} {'rise rate':>10} {'mean target':>12}"]
    for row in ev["model"]["calibration"]:
        lines.append(f"{row['bin']:>4} {row['n']:>7} {row['pred_mean']:>10.4f} {_fmt(row['rise_rate'], '.4f'):>10} "
                     f"{row['target_mean']:>12.4f}")
    if "control" in ev:
        c = ev["control"]
        runs = ", ".join(f"{r['ic']:+.4f}" for r in c.get("runs", []))
        lines += ["", f"Controls (shuffled training labels): IC of each: {runs}; of their mean: {c['ic']:+.4f} "
                      f"(leak SE {c['leak_se']:.4f})",
                  ("LEAK WARNING: " if c["leak_flag"] else "") + c["leak_note"]]
    return "\n".join(lines)


def _finite(obj: Any) -> Any:
    """NaN/inf -> None, so evaluation.json is strict JSON (readable by any JSON parser)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _write_json_atomic(doc: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(_finite(doc), indent=2, allow_nan=False, default=str) + "\n")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from model import evaluation as E

    model_dir = Path(args.model_dir)
    if args.bins < 1:
        raise InputError(f"--bins must be >= 1, but got --bins={args.bins}.")
    if args.controls < 1:
        raise InputError(f"--controls must be >= 1 (or use --no-control), but got --controls={args.controls}.")
    loaded = load_model_dir(model_dir)
    out_dir = Path(args.out) if args.out else model_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory.")
    dataset, _ = load_dataset_for(loaded, model_dir, args.cache)
    cfg = loaded.cfg
    if args.device:
        cfg = dataclasses.replace(cfg, device=args.device)
    periods = period_info(dataset)

    control_nets, control_seeds = [], []
    if args.control:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs * args.controls, desc="controls (shuffled labels)", unit="epoch",
                   file=sys.stderr, disable=None)

        def on_epoch(epoch: int, metrics: dict) -> bool:
            bar.update(1)
            bar.set_postfix(loss=f"{metrics.get('train_loss', float('nan')):.4f}")
            return True

        try:
            for k in range(args.controls):
                seed = args.control_seed + k
                control_nets.append(E.train_control(dataset, cfg, seed=seed, on_epoch=on_epoch))
                control_seeds.append(seed)
        finally:
            bar.close()

    ev = E.evaluate_split(loaded.net, dataset, cfg, split="test", control_nets=control_nets,
                          control_seeds=control_seeds, device=args.device, n_bins=args.bins)
    result = {
        "model_dir": str(model_dir),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": dataset.meta.get("source"),
        "dataset_cache_key": dataset.cache_key,
        "model_dataset_cache_key": loaded.meta.get("cache_key"),
        "target_method": dataset.meta.get("target_method"),
        "look_back": dataset.look_back,
        "look_ahead": dataset.look_ahead,
        "periods": periods,
        "train_config": cfg.to_mapping(),
        "fit": loaded.extra,
        **ev.result,
    }
    if control_nets:
        result["control"]["epochs"] = cfg.epochs
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_plots:
        from model.plots import write_evaluation_plots

        result["plots"] = write_evaluation_plots(out_dir, result, ev.series)
    _write_json_atomic(result, out_dir / "evaluation.json")
    print(format_report(result))
    print(f"\nwrote {out_dir / 'evaluation.json'}" + (" and plots" if not args.no_plots else ""))
    return 0
