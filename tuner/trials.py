"""Counting and ranking a study's trials: the rules `worker`, `launch`, `status` and `export` share.

The budget counts COMPLETE + PRUNED trials of all workers (Optuna's ``MaxTrialsCallback`` rule):
a FAIL is retried, a RUNNING or WAITING one is still on its way.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = ["FINISHED_FOR_BUDGET", "state_counts", "finished_for_budget", "completed", "ranked", "best_value",
           "compute_spent"]

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


def compute_spent(trials: list[FrozenTrial], direction: str) -> dict[str, Any]:
    """Epochs trained so far (all folds, every finished trial) and when the current best was found, in
    trials and in cumulative epochs: whether more trials still help shows in how long ago that was."""
    done = sorted((t for t in trials if t.state.is_finished() and t.datetime_complete is not None),
                  key=lambda t: t.datetime_complete)
    total, best, best_at, found = 0, None, None, None
    sign = 1.0 if direction == "minimize" else -1.0
    for t in done:
        total += int(t.user_attrs.get("epochs_run") or len(t.intermediate_values))
        if t.state == TrialState.COMPLETE and t.value is not None and (best is None or sign * t.value < sign * best):
            best, best_at, found = t.value, total, t.number
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done)
    return {"epochs": total, "finished_trials": finished, "best_trial": found, "best_found_at_epochs": best_at,
            "best_found_after_trials": 1 + [t.number for t in done].index(found) if found is not None else None}
