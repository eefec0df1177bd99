"""The network: [optional Conv1d front end] -> stacked GRU or LSTM -> [LayerNorm] -> linear -> sigmoid.

GRU and LSTM differ only by ``cell``, looked up in ``model.cells`` (an unknown name is an error listing
the known ones, never a fall-back to another cell). The recurrent weights live in the cell's
``nn.GRU``/``nn.LSTM`` module so that CUDA runs cuDNN on them, while the CPU runs the cell's fused
layer (``model.recurrent``) on the very same parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from .cells import cell_of
from .config import TrainConfig

__all__ = ["StockRNN", "build_network"]


class StockRNN(nn.Module):
    """Maps a window of scaled features [B, L, F] to a rise probability in [0, 1], shape [B]."""

    def __init__(self, n_features: int, cell: str = "gru", hidden_dim: int = 64, num_layers: int = 2,
                 dropout: float = 0.0, layer_norm: bool = True, conv_channels: int = 0) -> None:
        super().__init__()
        self._cell = cell_of(cell)
        self.cell = cell
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        # "auto": cuDNN on CUDA; on CPU the fused layers for both cells at any thread count, which
        # bench/train.py measures faster than torch's own GRU/LSTM (bench/README.md has the figures).
        # "module"/"fused" force one (tests, bench).
        self.rnn_impl = "auto"
        self.conv = (nn.Conv1d(n_features, conv_channels, kernel_size=3, padding=1)
                     if conv_channels > 0 else None)
        rnn_in = conv_channels if conv_channels > 0 else n_features
        self.rnn = self._cell.build(rnn_in, hidden_dim, num_layers, dropout)
        self.norm = nn.LayerNorm(hidden_dim) if layer_norm else nn.Identity()
        self.head = nn.Linear(hidden_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier for every weight matrix, zero biases: keeps early gate activations out of saturation."""
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.xavier_uniform_(p)
            elif name.startswith(("rnn", "head", "conv")):
                nn.init.zeros_(p)

    def _use_fused(self, x: torch.Tensor) -> bool:
        if self.rnn_impl == "auto":
            return not x.is_cuda
        return self.rnn_impl == "fused"

    def _recurrent_fused(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, I] -> [B, H], the last hidden state of the top layer."""
        seq = x.transpose(0, 1)  # [B, L, I] -> [L, B, I]
        B = x.shape[0]
        h0 = x.new_zeros(B, self.hidden_dim)
        for k in range(self.num_layers):
            w = [getattr(self.rnn, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            top = k == self.num_layers - 1  # only its last state is used: its backward skips L-1 zero adds
            seq = self._cell.fused_layer(seq, h0, *w, last_only=top)  # [L, B, I] -> [L, B, H] ([B, H] on top)
            if not top and self.dropout > 0:
                seq = nn.functional.dropout(seq, self.dropout, self.training)
        return seq  # [B, H]: the top layer's last hidden state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # [B, L, F] -> [B, C, L] -> [B, L, C]
        if self._use_fused(x):
            last = self._recurrent_fused(x)  # [B, L, I] -> [B, H]
        else:
            try:
                seq, _ = self.rnn(x)  # [B, L, I] -> [B, L, H]
            except RuntimeError as e:
                # older cuDNN builds have no bf16 RNN kernels: run the recurrence in fp32, keep autocast
                # for the rest
                if "bfloat16" not in str(e).lower():
                    raise
                with torch.autocast(x.device.type, enabled=False):
                    seq, _ = self.rnn(x.float())
            last = seq[:, -1]  # [B, L, H] -> [B, H]
        return torch.sigmoid(self.head(self.norm(last))).squeeze(-1)  # [B, H] -> [B, 1] -> [B]


def build_network(cfg: TrainConfig, n_features: int) -> StockRNN:
    """The network a TrainConfig describes, for inputs with ``n_features`` columns."""
    return StockRNN(n_features, cell=cfg.cell, hidden_dim=cfg.hidden_dim, num_layers=cfg.num_layers,
                    dropout=cfg.dropout, layer_norm=cfg.layer_norm, conv_channels=cfg.conv_channels)
