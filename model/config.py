"""Training settings: one frozen dataclass, built from the [train] table of a TOML file."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.settings import check, from_mapping, to_mapping

from .cells import cell_of
from .metric_names import OBJECTIVES

__all__ = ["TrainConfig"]

LOSSES = ("mse", "mae", "huber")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides one training run (architecture, optimization, budget, device)."""

    # architecture
    cell: str = "gru"
    hidden_dim: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    layer_norm: bool = True
    conv_channels: int = 0  # 0 = no Conv1d front end
    # optimization
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    warmup_ratio: float = 0.01
    weight_decay: float = 1e-4
    batch_size: int = 512
    loss: str = "mae"
    huber_delta: float = 0.1
    grad_clip: float = 1.0
    # budget
    epochs: int = 10
    patience: int = 0  # early stopping: stop after this many epochs without improvement (0 = off)
    min_delta: float = 0.0  # the least change of `monitor` that counts as an improvement
    min_epochs: int = 1  # never stop early before this many epochs
    monitor: str = "val_mae"  # the metric that picks the best epoch and drives early stopping
    samples_per_epoch: int | None = None  # None = all training windows each epoch
    val_samples: int | None = None  # None = the whole validation split
    eval_batch_size: int = 8192
    # data use
    train_splits: tuple[str, ...] = ("train",)  # ("train", "val") for a final refit
    eval_split: str | None = "val"  # None: no evaluation (final refit)
    # runtime
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # CPU threads; None = torch default
    amp: bool = True  # bf16 autocast on CUDA

    def __post_init__(self) -> None:
        cell_of(self.cell)  # a declared cell (model/cells.py), or the list of them
        check(self.loss in LOSSES, f"loss must be one of {LOSSES}, but got loss={self.loss!r}.")
        check(self.hidden_dim >= 1, f"hidden_dim must be >= 1, but got hidden_dim={self.hidden_dim}.")
        check(self.num_layers >= 1, f"num_layers must be >= 1, but got num_layers={self.num_layers}.")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), but got dropout={self.dropout}.")
        check(self.conv_channels >= 0, f"conv_channels must be >= 0, but got conv_channels={self.conv_channels}.")
        check(self.learning_rate > 0, f"learning_rate must be > 0, but got learning_rate={self.learning_rate}.")
        check(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], but got min_lr_ratio={self.min_lr_ratio}.")
        check(0.0 <= self.warmup_ratio < 1.0, f"warmup_ratio must be in [0, 1), but got warmup_ratio={self.warmup_ratio}.")
        check(self.weight_decay >= 0, f"weight_decay must be >= 0, but got weight_decay={self.weight_decay}.")
        check(self.batch_size >= 1, f"batch_size must be >= 1, but got batch_size={self.batch_size}.")
        check(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 = off), but got grad_clip={self.grad_clip}.")
        check(self.epochs >= 1, f"epochs must be >= 1, but got epochs={self.epochs}.")
        check(self.patience >= 0, f"patience must be >= 0 (0 = no early stopping), but got patience={self.patience}.")
        check(self.min_delta >= 0, f"min_delta must be >= 0, but got min_delta={self.min_delta}.")
        check(self.min_epochs >= 1, f"min_epochs must be >= 1, but got min_epochs={self.min_epochs}.")
        check(self.monitor in OBJECTIVES,
              f"monitor must be one of {sorted(OBJECTIVES)}, but got monitor={self.monitor!r}.")
        check(self.samples_per_epoch is None or self.samples_per_epoch >= 1,
              f"samples_per_epoch must be >= 1, but got samples_per_epoch={self.samples_per_epoch}.")
        check(self.val_samples is None or self.val_samples >= 1,
              f"val_samples must be >= 1, but got val_samples={self.val_samples}.")
        check(self.eval_batch_size >= 1, f"eval_batch_size must be >= 1, but got eval_batch_size={self.eval_batch_size}.")
        check(len(self.train_splits) >= 1 and set(self.train_splits) <= {"train", "val"},
              f"train_splits must be a non-empty subset of ['train', 'val'], but got train_splits={list(self.train_splits)}.")
        check(self.eval_split in (None, "val", "test"),
              f"eval_split must be 'val', 'test' or absent, but got eval_split={self.eval_split!r}.")
        check(self.eval_split is None or self.eval_split not in self.train_splits,
              f"eval_split must not be one of train_splits, but got eval_split={self.eval_split!r}.")
        check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
              f"device must be 'auto', 'cpu' or 'cuda[:N]', but got device={self.device!r}.")
        check(self.threads is None or self.threads >= 1, f"threads must be >= 1, but got threads={self.threads}.")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, where: str = "[train]") -> TrainConfig:
        return from_mapping(cls, mapping, where)

    def to_mapping(self) -> dict[str, Any]:
        return to_mapping(self)
