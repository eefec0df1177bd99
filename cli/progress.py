"""What long commands show while they run: a per-epoch bar on stderr, and the epoch table they print."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["epoch_bar", "format_history", "COLUMNS"]

# shown per epoch and in the summary, in this order
COLUMNS = ("epoch", "train_loss", "val_mae", "val_rmse", "val_dir_acc", "val_ic", "val_skill_half",
           "epoch_time_s", "samples_per_s")


@contextmanager
def epoch_bar(total: int, desc: str, disable: bool | None = False) -> Iterator[Callable[[int, dict[str, float]], bool]]:
    """A tqdm bar on stderr (``disable=None``: only on a terminal); yields the ``on_epoch`` callback."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, disable=disable, dynamic_ncols=True)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        post = {"loss": f"{metrics.get('train_loss', float('nan')):.4f}"}
        if "val_mae" in metrics:
            post["val_mae"] = f"{metrics['val_mae']:.4f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)
        return True

    try:
        yield on_epoch
    finally:
        bar.close()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.4f}"
    return str(v)


def format_history(history: Sequence[Mapping[str, Any]], transpose: bool = False) -> str:
    """The epochs as a table (one row each); ``transpose``: one ``key value`` line per metric of the first."""
    if not history:
        return ""
    if transpose:
        return "\n".join(f"  {k:<18} {_fmt(v)}" for k, v in history[0].items())
    cols = [c for c in COLUMNS if c in history[0]]
    lines = ["  ".join(f"{c:>12}" for c in cols)]
    lines += ["  ".join(f"{_fmt(h[c]):>12}" for c in cols) for h in history]
    return "\n".join(lines)
