"""Counting and ranking a study's trials: the rules `worker`, `launch`, `status` and `export` share.

The budget counts COMPLETE + PRUNED trials of all workers (Optuna's ``MaxTrialsCallback`` rule):
a FAIL is retried, a RUNNING or WAITING one is still on its way.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from optuna.trial import FrozenTrial, TrialState

__all__ = ["FINISHED_FOR_BUDGET", "state_counts", "finished_for_budget", "completed", "ranked", "best_value"]

FINISHED_FOR_BUDGET = (TrialState.COMPLETE, TrialState.PRUNED)


def state_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """Trials by state name: COMPLETE, PRUNED, RUNNING, WAITING, FAIL (every state present, 0 when none)."""
    counts = {s.name: 0 for s in TrialState}
    for t in trials:
        counts[t.state.name] += 1
    return counts


def finished_for_budget(counts: dict[str, int]) -> int:
    return sum(counts[s.name] for s in FINISHED_FOR_BUDGET)


def completed(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """COMPLETE trials with a value."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def ranked(trials: Iterable[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """COMPLETE trials, best first (ties: the earlier trial first)."""
    sign = 1.0 if direction == "minimize" else -1.0
    return sorted(completed(trials), key=lambda t: (sign * float(t.value), t.number))


def best_value(trials: Sequence[FrozenTrial], direction: str) -> float | None:
    best = ranked(trials, direction)
    return float(best[0].value) if best else None
