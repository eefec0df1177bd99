"""The metrics an epoch records, by name: how each is shown and which a study may optimise.

The one list of metric names: study files, the trainer's best-epoch choice, trial notes, `status` and
`export` all read it. No numpy here, so reading a config stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Metric", "METRICS", "OBJECTIVES", "VALIDATION_METRICS", "better"]


@dataclass(frozen=True)
class Metric:
    """How a per-epoch metric is shown, and whether a study may optimise it (and in which direction)."""

    label: str
    fmt: str  # str.format spec of one value
    direction: str | None = None  # "minimize" | "maximize" for a possible study objective


# every metric an epoch records that people read, in the order notes and tables show them
METRICS: dict[str, Metric] = {
    "val_mae": Metric("validation MAE", "{:.5f}", "minimize"),
    "val_rmse": Metric("validation RMSE", "{:.5f}", "minimize"),
    "val_ic": Metric("IC (Spearman, per date)", "{:+.4f}", "maximize"),
    "val_icir": Metric("ICIR", "{:+.3f}", "maximize"),
    "val_dir_acc": Metric("directional accuracy", "{:.2%}", "maximize"),
    "val_skill_half": Metric("skill vs constant 0.5", "{:+.2%}", "maximize"),
    "val_skill_mean": Metric("skill vs train mean", "{:+.2%}", "maximize"),
    "baseline_mae_half": Metric("baseline MAE (0.5)", "{:.5f}"),
    "baseline_mae_mean": Metric("baseline MAE (train mean)", "{:.5f}"),
    "train_loss": Metric("train loss", "{:.5f}"),
    "samples_per_s": Metric("throughput (samples/s)", "{:,.0f}"),
    "epoch_time_s": Metric("epoch time (s)", "{:.2f}"),
    "gpu_peak_mb": Metric("GPU peak memory (MB)", "{:,.0f}"),
}
# metric -> the direction that makes sense for it, for a study's `metric`
OBJECTIVES: dict[str, str] = {k: m.direction for k, m in METRICS.items() if m.direction}
# the validation metrics of an epoch (what a trial records of its best epoch)
VALIDATION_METRICS: tuple[str, ...] = tuple(OBJECTIVES)


def better(a: float, b: float, metric: str) -> bool:
    """Is value ``a`` of ``metric`` strictly better than ``b``?"""
    return a < b if OBJECTIVES[metric] == "minimize" else a > b
