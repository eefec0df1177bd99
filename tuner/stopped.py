"""The last lines of a stopped command: what was finished, and the one command that resumes.

`tune`, `launch`, `confirm` and `worker` all end a stop with these lines, so a user who pressed
Ctrl-C sees at once that nothing was lost (interrupted trials resume from their checkpoints) and
what to type next. Reading the study is best effort: a stop during data preparation may come before
the study exists, and a stop must never end in a traceback.
"""
from __future__ import annotations

from .confirm import confirm_study_config
from .retry import with_retries
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import count_words, finished_for_budget, state_counts

__all__ = ["stopped_lines", "PHASES"]


# the phases of `tune`, in order, as the stop message names them
PHASES = {"prep": "while preparing the data", "search": "during the search",
          "confirmation": "during the confirmation"}


def _progress(cfg: StudyConfig, runs: str) -> str | None:
    """``3 of 8 trials finished (2 complete, 1 pruned), 2 interrupted (re-queued), 0 failed``; None when
    the study does not exist yet."""
    try:
        study = load_existing_study(cfg)
        counts = state_counts(with_retries(lambda: study.get_trials(deepcopy=False), "reading trials", max_wait=10))
    except Exception:  # noqa: BLE001 - not created yet, or unreachable: the message says less
        return None
    done = finished_for_budget(counts)
    return (f"{done} of {cfg.n_trials} {runs} finished ({count_words(counts, ('COMPLETE', 'PRUNED'))}), "
            f"{count_words(counts, ('INTERRUPTED', 'FAIL'))}")


def stopped_lines(cfg: StudyConfig, signal_name: str, phase: str, resume: str,
                  confirm: tuple[int, int] | None = None) -> list[str]:
    """The stop message: the signal and the phase (a key of PHASES, or "" for a lone worker), the
    search's progress, the confirmation's when the study has one (``confirm=(top_k, seeds)``), and
    ``resume``."""
    lines = [f"stopped by {signal_name} {PHASES.get(phase, '')}".rstrip() + "."]
    search = _progress(cfg, "trials")
    lines.append(f"search: {search}." if search else "search: not started.")
    if confirm is not None:  # a study with a confirmation phase: how far it got (perhaps not started)
        runs = _progress(confirm_study_config(cfg, *confirm), "confirmation runs")
        lines.append(f"confirmation: {runs}." if runs else "confirmation: not started.")
    lines.append("Interrupted trials resume from their checkpoints. To resume:")
    lines.append(f"  {resume}")
    return lines
