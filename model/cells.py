"""The recurrent cells a network can use, each declared once: name -> how to build and run it.

A cell is the torch module that holds the recurrent weights (``nn.GRU``/``nn.LSTM``: cuDNN runs them on
CUDA, and a state dict keeps their names) and the fused CPU layer of ``model.recurrent`` that runs on
those very weights. ``TrainConfig`` validates ``cell`` against ``CELLS`` and the network looks its cell
up here, so a name nobody declared fails with the known names (exit 2) instead of running another cell.

torch is imported when a cell is built, not when this module is: ``model.config`` reads ``CELLS`` for
validation, and reading a config must not pay for importing torch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.registry import one_of

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Cell", "CELLS", "cell_of"]


@dataclass(frozen=True)
class Cell:
    """One recurrent cell: its gate count, its torch module class and its fused CPU layer."""

    name: str
    gates: int  # blocks of H rows in weight_ih/weight_hh (GRU r, z, n; LSTM i, f, g, o)
    module: Callable[[], type[nn.RNNBase]]  # -> nn.GRU / nn.LSTM (a function, so that torch loads late)
    # (x [L, B, I], h0 [B, H], w_ih, w_hh, b_ih, b_hh, last_only) -> [L, B, H], or [B, H] when last_only
    fused_layer: Callable[..., torch.Tensor]

    def build(self, input_size: int, hidden_size: int, num_layers: int, dropout: float) -> nn.RNNBase:
        """The batch-first module that owns the weights (dropout between layers only when there are several)."""
        return self.module()(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0)


def _gru_module() -> type[nn.RNNBase]:
    from torch import nn

    return nn.GRU


def _lstm_module() -> type[nn.RNNBase]:
    from torch import nn

    return nn.LSTM


def _gru_fused(x: torch.Tensor, h0: torch.Tensor, *weights: Any, last_only: bool) -> torch.Tensor:
    from .recurrent import gru_layer

    return gru_layer(x, h0, *weights, last_only=last_only)


def _lstm_fused(x: torch.Tensor, h0: torch.Tensor, *weights: Any, last_only: bool) -> torch.Tensor:
    from .recurrent import lstm_layer

    return lstm_layer(x, h0, h0, *weights, last_only=last_only)  # the cell state starts at zero too


CELLS: dict[str, Cell] = {c.name: c for c in (
    Cell("gru", 3, _gru_module, _gru_fused),
    Cell("lstm", 4, _lstm_module, _lstm_fused),
)}


def cell_of(name: object) -> Cell:
    """The declared cell ``name``; InputError listing the known cells otherwise."""
    return one_of(CELLS, name, "cell")
