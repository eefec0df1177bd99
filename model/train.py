"""The training loop, top to bottom: setup, then per step lr -> batch -> forward/backward -> clip -> step,
per epoch evaluate -> record -> checkpoint -> callback. No Trainer framework.

Determinism (what makes resume exact): the order of epoch e's samples comes from a generator seeded
with (seed, e), the lr from the step alone (``schedule.lr_at``), dropout from the torch RNG whose state
is checkpointed after every epoch, and the evaluation subset is fixed. So ``resume_from`` after epoch
k continues exactly as an uninterrupted run would.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn

from common.errors import InputError
from data_prep.dataset import PreparedDataset
from data_prep.ranges import concat_columns

from .batches import TrainWindows, check_windows, epoch_order, feature_tensor, gather_windows
from .checkpoint import load_checkpoint, save_atomic
from .config import TrainConfig
from .early_stopping import should_stop
from .inference import predict_features
from .metric_names import OBJECTIVES, better
from .metrics import regression_metrics
from .network import StockRNN, build_network
from .schedule import lr_at

__all__ = ["fit", "FitResult", "EvalPredictions", "NonFiniteLoss", "resolve_device", "ARCH_KEYS", "TIMING_KEYS"]

# settings that define the network's shape: on resume they come from the checkpoint
ARCH_KEYS = ("cell", "hidden_dim", "num_layers", "dropout", "layer_norm", "conv_channels")
# per-epoch keys that describe the machine, not the model (differ between identical runs)
TIMING_KEYS = ("epoch_time_s", "samples_per_s", "rss_mb", "gpu_peak_mb")
# fixed seed for the validation subset, so every trial and every resume scores the same windows
_VAL_SUBSET_SEED = 20240611


class NonFiniteLoss(RuntimeError):
    """The training loss (or gradient norm) became NaN/inf; carries where, so the tuner can log it."""

    def __init__(self, epoch: int, step: int, value: float, what: str = "loss") -> None:
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"non-finite training {what} {value} at epoch {epoch}, step {step}; lower learning_rate, "
            f"enable grad_clip, or check the dataset's features for NaN/inf."
        )


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one dict per epoch, each with "epoch"
    best_epoch: int  # best `monitor` value (the last epoch when there is no evaluation)
    best_metrics: dict[str, float]
    model: StockRNN  # carries the best epoch's weights
    device: str
    config: TrainConfig | None = None  # the effective settings (architecture from the checkpoint on resume)
    stopped_early: bool = False  # ended by early stopping (patience), before cfg.epochs
    evaluation: EvalPredictions | None = None  # the best epoch's predictions on the evaluation windows


@dataclass(frozen=True)
class EvalPredictions:
    """What the best epoch predicted for each evaluation window: the raw material of per-date statistics
    (a study's verdict on its winner), kept so that nobody has to run the model again."""

    end_idx: np.ndarray  # int64 window end rows
    date: np.ndarray  # datetime64[D], the day each prediction is made
    pred: np.ndarray  # float32
    target: np.ndarray  # float32
    train_mean: float  # mean target of the training windows (the "always the train mean" baseline)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device must be available, but got device={name!r} and torch sees no CUDA device; "
                         "use device = \"auto\" or \"cpu\".")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]', but got device={name!r}.") from None
    if device.type == "cuda" and device.index is not None and device.index >= (n := torch.cuda.device_count()):
        raise InputError(f"device must be available, but got device={name!r} and torch sees {n} CUDA device(s) "
                         f"(cuda:0 .. cuda:{n - 1}); use device = \"cuda\" or \"auto\".")
    return device


def _rng_state() -> dict[str, Any]:
    """All RNG states as tensors/ints/lists (weights_only-loadable)."""
    py = random.getstate()
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].astype(np.int64).tolist(),
             "numpy_pos": int(np.random.get_state()[2]), "python": [py[0], list(py[1])]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.asarray(state["numpy"], np.uint32), state["numpy_pos"]))
    random.setstate((state["python"][0], tuple(state["python"][1]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _loss_fn(cfg: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if cfg.loss == "mse":
        return nn.functional.mse_loss
    if cfg.loss == "mae":
        return nn.functional.l1_loss
    return lambda p, y: nn.functional.huber_loss(p, y, delta=cfg.huber_delta)


def fit(dataset: PreparedDataset, cfg: TrainConfig,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
        checkpoint_path: str | Path | None = None, resume_from: str | Path | None = None,
        keep_last: bool = False) -> FitResult:
    """Train ``cfg.epochs`` epochs (numbered 1..epochs) on ``cfg.train_splits``, evaluating on ``cfg.eval_split``.

    ``on_epoch(epoch, metrics)`` returning False stops training after that epoch; so does early
    stopping (``cfg.patience`` epochs without an improvement of ``cfg.monitor``). A checkpoint is
    written atomically to ``checkpoint_path`` after every epoch and records an early stop, so
    ``resume_from`` a finished or stopped run trains nothing more; otherwise it continues after the
    checkpoint's epoch with the checkpoint's architecture. Raises NonFiniteLoss on NaN/inf.
    ``keep_last``: the model, best_metrics and evaluation are the last epoch's, not the best one's (a
    run whose epoch count was fixed in advance: choosing its epoch on its own validation would flatter
    what it reports).
    """
    # ---- resume: the checkpoint decides the architecture --------------------------------------
    ckpt = load_checkpoint(resume_from) if resume_from is not None else None
    if ckpt is not None:
        cfg = replace(cfg, **{k: ckpt["config"][k] for k in ARCH_KEYS if k in ckpt["config"]})

    # ---- device, threads, seeds --------------------------------------------------------------
    device = resolve_device(cfg.device)
    if device.type == "cpu" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    use_amp = cfg.amp and device.type == "cuda"
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)

    # ---- data: end rows and targets of the training splits, the fixed evaluation windows ------
    for s in (*cfg.train_splits, *([cfg.eval_split] if cfg.eval_split else [])):
        dataset.split(s)  # InputError naming the split when it is missing
        check_windows(dataset, s)
    # no copy of the training windows: the split arrays (or a fold's ranges over them), read per batch
    tr_end = concat_columns([dataset.split(s).end_idx for s in cfg.train_splits])
    tr_tgt = concat_columns([dataset.split(s).target for s in cfg.train_splits])
    if len(tr_end) == 0:
        raise InputError(f"train_splits={list(cfg.train_splits)} of {dataset.path} hold no windows; "
                         "use more data or a shorter look_back.")
    train_mean = float(tr_tgt.mean())
    feats = feature_tensor(dataset, device)  # CUDA: resident on the device, gathered there
    train = TrainWindows(tr_end, tr_tgt, device)
    n_per_epoch = min(cfg.samples_per_epoch or train.size, train.size)
    steps_per_epoch = math.ceil(n_per_epoch / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    L = dataset.look_back

    ev = None
    if cfg.eval_split is not None:
        sp = dataset.split(cfg.eval_split)
        if len(sp) == 0:
            raise InputError(f"eval_split={cfg.eval_split!r} of {dataset.path} holds no windows.")
        sel = np.arange(len(sp))
        if cfg.val_samples is not None and cfg.val_samples < len(sp):
            sel = np.sort(np.random.default_rng(_VAL_SUBSET_SEED).choice(len(sp), cfg.val_samples, replace=False))
        ev_end = np.asarray(sp.end_idx[sel], np.int64)  # only the chosen windows are read
        ev = (torch.from_numpy(ev_end).to(device), np.asarray(sp.target[sel], np.float32),
              np.asarray(dataset.date[ev_end]))

    # ---- model, optimizer, state ---------------------------------------------------------------
    net = build_network(cfg, dataset.n_features).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = _loss_fn(cfg)
    step, start_epoch = 0, 1
    history: list[dict[str, float]] = []
    best_epoch, best_state, best_pred = 0, None, None
    stopped = False
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, start_epoch = int(ckpt["step"]), int(ckpt["epoch"]) + 1
        history = [dict(h) for h in ckpt["history"]]
        best_epoch, best_state = int(ckpt["best_epoch"]), ckpt["best_model"]
        stopped = bool(ckpt.get("stopped_early", False))
        _set_rng_state(ckpt["rng"])
    monitor, maximize = cfg.monitor, OBJECTIVES[cfg.monitor] == "maximize"
    proc = psutil.Process()
    # on CUDA a per-step .item() would stall the pipeline: check the loss every few steps instead
    check_every = 1 if device.type == "cpu" else 25

    for epoch in range(start_epoch, 0 if stopped else cfg.epochs + 1):
        t0 = time.perf_counter()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        net.train()
        order_t = torch.from_numpy(epoch_order(cfg.seed, epoch, train.size, n_per_epoch)).to(device)
        loss_sum = torch.zeros((), device=device)
        lr = cfg.learning_rate
        for b in range(steps_per_epoch):
            # 1) learning rate for this step
            lr = lr_at(step, total_steps, cfg.learning_rate, cfg.warmup_ratio, cfg.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            # 2) batch: one gather from the feature matrix
            idx = order_t[b * cfg.batch_size: (b + 1) * cfg.batch_size]
            end, y = train.batch(idx)
            x = gather_windows(feats, end, L)  # [B, L, F]
            # 3) forward / backward
            with torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext():
                pred = net(x)
            loss = loss_fn(pred.float(), y)
            if (b + 1) % check_every == 0 or b == steps_per_epoch - 1:
                if not math.isfinite(value := float(loss.detach())):
                    raise NonFiniteLoss(epoch, step + 1, value)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # 4) clip, step
            if cfg.grad_clip > 0:
                norm = nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                if device.type == "cpu" and not math.isfinite(value := float(norm)):
                    raise NonFiniteLoss(epoch, step + 1, value, what="gradient norm")
            opt.step()
            step += 1
            loss_sum += loss.detach() * y.shape[0]

        # ---- end of epoch: evaluate, record, checkpoint, report ---------------------------------
        train_time = time.perf_counter() - t0
        metrics: dict[str, float] = {"epoch": epoch, "train_loss": float(loss_sum) / n_per_epoch, "lr": lr}
        if not math.isfinite(metrics["train_loss"]):
            raise NonFiniteLoss(epoch, step, metrics["train_loss"])
        if ev is not None:
            pred_ev = predict_features(net, feats, ev[0], L, cfg.eval_batch_size, autocast=use_amp)
            metrics.update(regression_metrics(pred_ev, ev[1], ev[2], train_mean))
        else:
            pred_ev = None
        metrics["epoch_time_s"] = time.perf_counter() - t0
        metrics["samples_per_s"] = n_per_epoch / train_time
        metrics["rss_mb"] = proc.memory_info().rss / 2**20
        metrics["gpu_peak_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else 0.0
        history.append(metrics)
        if (ev is None or keep_last or best_state is None
                or better(metrics[monitor], history[best_epoch - 1][monitor], monitor)):
            best_epoch = epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            best_pred = pred_ev
        stopped = ev is not None and epoch < cfg.epochs and should_stop(
            [h[monitor] for h in history], cfg.patience, cfg.min_delta, cfg.min_epochs, maximize)
        if checkpoint_path is not None:
            save_atomic({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                         "epoch": epoch, "history": history, "best_epoch": best_epoch,
                         "best_model": best_state, "config": cfg.to_mapping(), "rng": _rng_state(),
                         "stopped_early": stopped}, checkpoint_path)
        if on_epoch is not None and on_epoch(epoch, dict(metrics)) is False:
            break
        if stopped:
            break

    if best_state is None:  # resumed from a checkpoint whose run had already finished
        best_state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        best_epoch = len(history)
    net.load_state_dict(best_state)
    evaluation = None
    if ev is not None:
        if best_pred is None:  # resumed past the best epoch: predict once more with its weights
            best_pred = predict_features(net, feats, ev[0], L, cfg.eval_batch_size, autocast=use_amp)
        evaluation = EvalPredictions(ev[0].cpu().numpy(), ev[2], best_pred, ev[1], train_mean)
    return FitResult(history=history, best_epoch=best_epoch,
                     best_metrics=dict(history[best_epoch - 1]) if history else {},
                     model=net, device=str(device), config=cfg, stopped_early=stopped,
                     evaluation=evaluation)
