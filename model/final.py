"""A model in use: the final refit that writes a model directory, and the evaluation and prediction
that read one.

MODEL_DIR (``saved_model.save_model``) holds model.pt, config.json, dataset_meta.json and extra.json.
Its dataset is found again by the cache key recorded at training time, so a model keeps working after
its raw source moved; only when the cache lacks that key is the source prepared again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import data_prep
from common.errors import InputError
from common.files import write_json_atomic
from data_prep.config import PrepConfig
from data_prep.dataset import PreparedDataset

from .config import TrainConfig
from .run_file import RunConfig

__all__ = ["HINT", "MODEL_FILES", "check_device", "use_threads", "final_config", "train_config_for", "FitRun",
           "fit_run", "save_fit",
           "check_model_dir", "read_train_config", "load_model_dir", "dataset_for", "evaluate_model_dir", "write_evaluation",
           "predict_model_dir"]

HINT = "create one with `stocktune fit --config best.toml --final --out MODEL_DIR`"
MODEL_FILES = ("model.pt", "config.json", "dataset_meta.json")
OnEpoch = Callable[[int, dict[str, float]], bool | None]


# ------------------------------------------------------------------------------ where it runs

def check_device(device: str, where: str) -> None:
    """InputError naming ``where`` unless ``device`` exists on this machine (``train.resolve_device``'s
    rule); called before any data is read, so a missing GPU costs nothing. "auto"/"cpu" need no torch."""
    if device in ("auto", "cpu"):
        return
    from .train import resolve_device

    try:
        resolve_device(device)
    except InputError as e:
        raise InputError(f"{str(e).rstrip('.')} ({where}).") from None


def use_threads(threads: int) -> None:
    """torch's intra-op threads for this process, always set explicitly (the rule: common/cpus.py)."""
    import torch

    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ the refit

def final_config(cfg: TrainConfig, epochs: int) -> TrainConfig:
    """The final refit: the same settings on train + validation for ``epochs`` epochs, with no
    evaluation split, so the test period stays unread until `evaluate`."""
    return dataclasses.replace(cfg, epochs=epochs, train_splits=("train", "val"), eval_split=None)


def _best_epoch(result: dict[str, Any], where: str) -> int | None:
    value = result.get("best_epoch")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"best_epoch must be a positive integer, but got best_epoch={value!r} ({where}, [result]).")
    return value


def train_config_for(rc: RunConfig, final: bool = False, epochs: int | None = None) -> TrainConfig:
    """The run file's [train] for a plain fit, or its final refit: ``epochs`` (the CLI), else
    [result].best_epoch (the tuned trial's best epoch), else [train].epochs."""
    if epochs is not None and epochs < 1:
        raise InputError(f"--epochs must be >= 1, but got --epochs {epochs}.")
    best_epoch = _best_epoch(rc.result, str(rc.path))
    if final:
        return final_config(rc.train, epochs or best_epoch or rc.train.epochs)
    return dataclasses.replace(rc.train, epochs=epochs) if epochs is not None else rc.train


@dataclass
class FitRun:
    """One `stocktune fit`: what was trained, on which dataset, with which effective settings."""

    result: Any  # model.FitResult
    dataset: PreparedDataset
    prep: data_prep.PrepResult
    cfg: TrainConfig
    final: bool


def fit_run(rc: RunConfig, cfg: TrainConfig, cache_root: Path, *, final: bool = False, progress: bool = True,
            on_epoch: OnEpoch | None = None, checkpoint: str | None = None, resume: str | None = None,
            threads: int | None = None, device_where: str = "[train]") -> FitRun:
    """Prepare (or find) the run file's dataset and train ``cfg`` on it with ``threads`` CPU threads.

    The device is checked first (``device_where`` names where it was set), before any data is read.
    """
    from .train import fit

    check_device(cfg.device, device_where)
    if threads is not None:
        cfg = dataclasses.replace(cfg, threads=threads)
    if cfg.threads is not None:
        use_threads(cfg.threads)
    prep = data_prep.prepare(rc.data.source, rc.data.prep, cache_root, progress=progress)
    dataset = prep.dataset()
    result = fit(dataset, cfg, on_epoch=on_epoch, checkpoint_path=checkpoint, resume_from=resume)
    return FitRun(result, dataset, prep, cfg, final)


def save_fit(out: Path, run: FitRun, rc: RunConfig) -> Path:
    """Write the model directory of a fit (the best epoch's weights; the whole run for a final refit)."""
    from .saved_model import save_model

    r = run.result
    extra = {"best_epoch": r.best_epoch, "best_metrics": r.best_metrics, "final": run.final,
             "epochs": len(r.history), "dataset_dir": str(Path(run.prep.path).resolve()),
             "cache_key": run.dataset.cache_key, "source": rc.data.source, "run_config": str(rc.path),
             "result": rc.result}
    # the meta of THIS call's source: a cache entry built by someone else records their path
    meta = {**run.dataset.meta, "source": rc.data.source}
    return save_model(out, r.model, r.config or run.cfg, meta, extra)


# ----------------------------------------------------------------------------- the model dir

def check_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """Check MODEL_DIR's files and return its dataset meta, without importing torch (fast errors)."""
    path = Path(model_dir)
    if not path.is_dir():
        raise InputError(f"MODEL_DIR {path} does not exist or is not a directory; {HINT}.")
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
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


def read_train_config(model_dir: str | Path) -> TrainConfig:
    """config.json of MODEL_DIR as a TrainConfig (no torch needed)."""
    d = Path(model_dir)
    # to_mapping() drops None values, so a final refit's eval_split=None is saved as "absent" and
    # must not come back as the default "val" (which TrainConfig rejects next to train_splits=[train, val])
    try:
        mapping = json.loads((d / "config.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{d / 'config.json'} is not readable JSON ({e}); {HINT}.") from None
    return TrainConfig.from_mapping({"eval_split": None, **mapping}, f"{d / 'config.json'}")


def load_model_dir(model_dir: str | Path) -> Any:
    """``saved_model.load_model`` (a LoadedModel) with the errors a user can cause as InputError."""
    from .saved_model import load_model

    path = Path(model_dir)
    check_model_dir(path)
    try:
        return load_model(path)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file: say which dir and what to do
        raise InputError(f"{path} holds a model that cannot be loaded ({type(e).__name__}: {e}); {HINT}.") from None


def dataset_for(meta: dict[str, Any], model_dir: Path, cache_root: Path,
                progress: bool = True) -> tuple[PreparedDataset, str | None]:
    """(the dataset the model was trained on, a warning or None): by its cache key first, else by
    preparing the recorded source again (which may have changed since)."""
    key = str(meta.get("cache_key", ""))
    found = data_prep.load_cached(cache_root, key) if key else None
    if found is not None:
        return found.dataset(), None
    source = meta["source"]
    prep = PrepConfig.from_mapping(meta["prep"], f"{model_dir / 'dataset_meta.json'}, prep")
    try:
        result = data_prep.prepare(source, prep, cache_root, progress=progress)
    except InputError as e:
        raise InputError(f"the dataset of {model_dir} (cache key {key or '?'}) is not in the cache {cache_root}, "
                         f"and preparing its source again failed: {e} Point --cache (or STOCKTUNE_CACHE) at the "
                         "cache it was trained with, or restore the source.") from None
    dataset = result.dataset()
    warning = None
    if key and dataset.cache_key != key:
        warning = (f"the data behind {source!r} changed since the model was trained (cache key {key[:12]} -> "
                   f"{dataset.cache_key[:12]}); the test period and the scaling may differ.")
    return dataset, warning


# ------------------------------------------------------------------------------- evaluation

def evaluate_model_dir(model_dir: str | Path, cache_root: Path, *, n_controls: int = 3, control_seed: int = 12345,
                       device: str | None = None, n_bins: int = 10, on_control_epoch: OnEpoch | None = None,
                       progress: bool = True, threads: int | None = None) -> Any:
    """Score MODEL_DIR on its dataset's test period, next to ``n_controls`` shuffled-label controls
    (trained with ``threads`` CPU threads, like the scoring).

    Returns an ``evaluation.Evaluation`` whose ``result`` is evaluation.json's content.
    """
    from . import evaluation as E
    from .evaluation_text import period_info

    if n_bins < 1:
        raise InputError(f"--bins must be >= 1, but got --bins={n_bins}.")
    if n_controls < 0:
        raise InputError(f"--controls must be >= 0, but got --controls={n_controls}.")
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    if device is not None:
        check_device(device, "--device")
    else:
        check_device(read_train_config(model_dir).device, f"{model_dir / 'config.json'}; override it with --device cpu")
    if threads is not None:
        use_threads(threads)
    loaded = load_model_dir(model_dir)
    dataset, warning = dataset_for(loaded.meta, model_dir, cache_root, progress)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    cfg = loaded.cfg if device is None else dataclasses.replace(loaded.cfg, device=device)
    cfg = cfg if threads is None else dataclasses.replace(cfg, threads=threads)
    seeds = [control_seed + k for k in range(n_controls)]
    nets = [E.train_control(dataset, cfg, seed=s, on_epoch=on_control_epoch) for s in seeds]
    ev = E.evaluate_split(loaded.net, dataset, cfg, split="test", control_nets=nets, control_seeds=seeds,
                          device=device, n_bins=n_bins)
    result = {
        "model_dir": str(model_dir),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": loaded.meta.get("source"), "dataset_cache_key": dataset.cache_key,
        "model_dataset_cache_key": loaded.meta.get("cache_key"), "target_method": dataset.meta.get("target_method"),
        "look_back": dataset.look_back, "look_ahead": dataset.look_ahead, "periods": period_info(dataset),
        "train_config": cfg.to_mapping(), "fit": loaded.extra, **ev.result,
    }
    if nets:
        result["control"]["epochs"] = cfg.epochs
    return dataclasses.replace(ev, result=result)


def write_evaluation(out_dir: Path, ev: Any, plots: bool = True) -> Path:
    """evaluation.json (strict JSON, atomically) and, unless ``plots`` is False, the eval_*.png plots."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = dict(ev.result)
    if plots:
        from .plots import write_evaluation_plots

        result["plots"] = write_evaluation_plots(out_dir, result, ev.series)
    return write_json_atomic(out_dir / "evaluation.json", result)


# ------------------------------------------------------------------------------- prediction

def predict_model_dir(model_dir: str | Path, source: str, day: np.datetime64 | None = None,
                      device: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Every ticker's rise probability for the window ending on ``day`` (default: the latest date),
    computed with ``threads`` CPU threads.

    Returns {"date", "look_ahead", "scores" (highest first, with rank and a 0-100 score), "skipped"}.
    All input checks run before the model is loaded (torch only for an explicit CUDA --device).
    """
    meta = check_model_dir(model_dir)
    if device is not None:
        check_device(device, "--device")
    dataset = data_prep.featurize_for_inference(source, meta)
    if day is None:
        day = np.asarray(dataset.date, "datetime64[D]").max() if len(dataset.date) else np.datetime64("NaT")
    rows, skipped = data_prep.prediction_rows(dataset, day)
    if threads is not None:
        use_threads(threads)
    loaded = load_model_dir(model_dir)
    from .inference import predict

    prob = np.asarray(predict(loaded.net, dataset, rows, batch_size=loaded.cfg.eval_batch_size, device=device),
                      np.float64)
    names = dataset.tickers
    scores = [{"ticker": names[int(dataset.ticker[r])], "score": round(100.0 * float(p), 2), "probability": float(p)}
              for r, p in zip(rows, prob)]
    scores.sort(key=lambda d: (-d["probability"], d["ticker"]))
    for i, d in enumerate(scores, 1):
        d["rank"] = i
    return {"date": str(day), "look_ahead": dataset.look_ahead, "scores": scores, "skipped": skipped}
