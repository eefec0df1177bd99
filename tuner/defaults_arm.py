"""The defaults arm: the configuration a user would run without tuning, as a trial of every study.

A search is only worth its compute if its winner beats what the user would have had without it, so
every study runs that configuration too (and confirmation retrains it next to the front-runners);
the verdict then compares the winner with it on the same dates. This module owns the marker that
says which trial it is.
"""
from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import FrozenTrial, TrialState

__all__ = ["DEFAULTS_ATTR", "defaults_number"]

DEFAULTS_ATTR = "defaults"  # main-study trial user attr: True on the trial that runs the default configuration


def defaults_number(trials: Iterable[FrozenTrial]) -> int | None:
    """The trial that ran the defaults: the COMPLETE one marked so, else the earliest marked (an
    interrupted run's re-queued copy keeps the mark), or None when the study has none."""
    marked = [t for t in trials if t.user_attrs.get(DEFAULTS_ATTR) is True]
    done = [t.number for t in marked if t.state == TrialState.COMPLETE]
    return min(done) if done else (min(t.number for t in marked) if marked else None)
