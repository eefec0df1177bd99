"""An ensemble of trained networks that answers as one: the mean of its members' rise probabilities.

Averaging probabilities (not logits) keeps the output a probability and lets members of different
architectures (the confirmed top-k configurations) combine; independently seeded members average
away part of the luck of one initialisation. Being an ``nn.Module`` it goes wherever one network
goes (``inference.predict``, ``evaluation.evaluate_split``), and each window batch is gathered once
for all members.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MeanOfMembers"]


class MeanOfMembers(nn.Module):
    """The mean prediction of ``members`` (each maps [B, L, F] windows to [B] probabilities)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        # inference.cpu_batch_size sizes a CPU batch by the widest hidden state it will hold
        self.hidden_dim = max(int(getattr(m, "hidden_dim", 0)) for m in members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)  # M x [B, L, F] -> [M, B] -> [B]
