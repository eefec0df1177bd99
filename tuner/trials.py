"""Counting and ranking a study's trials: the rules `worker`, `launch`, `status` and `export` share.

The budget counts COMPLETE + PRUNED trials of all workers (Optuna's ``MaxTrialsCallback`` rule):
a FAIL is retried, a RUNNING or WAITING one is still on its way.

Optuna stores a trial that was stopped (Ctrl-C, SIGTERM, a worker that vanished) and re-queued as
FAIL, with a WAITING copy that resumes it. The user's words differ: such a trial is *interrupted*;
*failed* means an error. ``state_counts`` owns that rule for every count the product shows.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = ["FINISHED_FOR_BUDGET", "INTERRUPTED", "INTERRUPTED_REASON", "state_counts", "interrupted_numbers",
           "count_words", "finished_for_budget", "completed", "ranked", "best_value",
           "compute_spent"]

FINISHED_FOR_BUDGET = (TrialState.COMPLETE, TrialState.PRUNED)


INTERRUPTED = "INTERRUPTED"  # the count of FAIL trials that were stopped and re-queued, next to Optuna's states
INTERRUPTED_REASON = "interrupted"  # how a worker's fail_reason starts when it stopped the trial on request


def interrupted_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """The FAIL trials that were stopped, not broken: re-queued (a retry names them last in its
    ``retry_history``) and with no error recorded (no fail_reason, as when the worker vanished, or one
    starting with INTERRUPTED_REASON). A retry copies its original's user attrs, so only the FAIL
    trial's own state matters, not the reason it inherited."""
    trials = list(trials)
    requeued = {int(t.system_attrs["retry_history"][-1]) for t in trials if t.system_attrs.get("retry_history")}
    return {t.number for t in trials if t.state == TrialState.FAIL and t.number in requeued
            and str(t.user_attrs.get("fail_reason", INTERRUPTED_REASON)).startswith(INTERRUPTED_REASON)}


def state_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """Trials by state name: COMPLETE, PRUNED, RUNNING, WAITING, FAIL, INTERRUPTED (every key present, 0
    when none). FAIL counts errors only; INTERRUPTED the FAIL trials that were stopped and re-queued
    (see ``interrupted_numbers``), so FAIL + INTERRUPTED is Optuna's own FAIL count."""
    trials = list(trials)
    counts = {s.name: 0 for s in TrialState}
    for t in trials:
        counts[t.state.name] += 1
    counts[INTERRUPTED] = len(interrupted_numbers(trials))
    counts["FAIL"] -= counts[INTERRUPTED]
    return counts


# the user's word for each count, in the order they are shown
_WORDS = (("COMPLETE", "complete"), ("PRUNED", "pruned"), ("RUNNING", "running"), ("WAITING", "waiting"),
          (INTERRUPTED, "interrupted"), ("FAIL", "failed"))


def count_words(counts: dict[str, int], keys: Iterable[str] | None = None, bar: bool = False) -> str:
    """``3 complete, 1 pruned, 2 interrupted, 0 failed``: ``counts`` (from ``state_counts``) in the user's
    words; ``keys`` picks and orders them (default: all but Optuna's rarely seen ones); ``bar``: the
    progress bar's ``interrupted=2 failed=0``."""
    names = dict(_WORDS)
    if bar:
        return " ".join(f"{names[k]}={counts.get(k, 0)}" for k in (keys or names))
    return ", ".join(f"{counts.get(k, 0)} {names[k]}" for k in (keys or names))


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
