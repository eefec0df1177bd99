"""What a study looks like right now: trials by state, the best trial, the running ones.

Read-only: it loads the study without a heartbeat and never creates it, so pointing `status` at a
wrong name or URL fails clearly instead of leaving an empty study behind.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from model.metric_names import VALIDATION_METRICS

from .confirm import ConfirmedRow, confirmed_ranking
from .optuna_adapter import last_heartbeats, storage_of, study_id_of, trial_id_of
from .retry import with_retries
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import compute_spent, count_words, finished_for_budget, interrupted_numbers, ranked, state_counts
from .verdict import Verdict, format_verdict, study_verdict

__all__ = ["study_status", "format_status", "Status", "TrialSummary", "RunningTrial", "FailedTrial"]


@dataclass(frozen=True)
class TrialSummary:
    """One trial as `status` shows it."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    best_epoch: int | None
    epochs_run: int | None
    last_epoch_reported: int | None
    worker: str

    @classmethod
    def of(cls, t: optuna.trial.FrozenTrial) -> TrialSummary:
        return cls(t.number, t.state.name, t.value, dict(t.params),
                   {k: t.user_attrs[k] for k in VALIDATION_METRICS if k in t.user_attrs},
                   t.user_attrs.get("best_epoch"), t.user_attrs.get("epochs_run"),
                   max(t.intermediate_values, default=None),
                   f"{t.user_attrs.get('worker_host', '?')}:{t.user_attrs.get('worker_pid', '?')}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial and its heartbeat."""

    trial: TrialSummary
    last_heartbeat: str | None
    heartbeat_age_s: float | None
    stale: bool  # older than the grace period: the trial will be retried

    def to_json(self) -> dict[str, Any]:
        return {**self.trial.to_json(), "last_heartbeat": self.last_heartbeat,
                "heartbeat_age_s": self.heartbeat_age_s, "stale": self.stale}


@dataclass(frozen=True)
class FailedTrial:
    number: int
    fail_reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Status:
    """A snapshot of a study (the storage URL masked); ``to_json()`` is what `status --json` prints."""

    study: str
    storage: str
    direction: str
    metric: str
    n_trials: int | None
    counts: dict[str, int]  # trials by state (tuner.trials.state_counts)
    finished_for_budget: int
    best: TrialSummary | None
    compute: dict[str, Any]  # tuner.trials.compute_spent
    running: list[RunningTrial]
    failed: list[FailedTrial]  # the last 10
    confirmation: list[ConfirmedRow] | None  # tuner.confirm.confirmed_ranking
    verdict: Verdict | None

    def to_json(self) -> dict[str, Any]:
        return {"study": self.study, "storage": self.storage, "direction": self.direction, "metric": self.metric,
                "n_trials": self.n_trials, "counts": dict(self.counts), "finished_for_budget": self.finished_for_budget,
                "best": self.best.to_json() if self.best else None, "compute": self.compute,
                "running": [r.to_json() for r in self.running], "failed": [f.to_json() for f in self.failed],
                "confirmation": [r.to_json() for r in self.confirmation] if self.confirmation else None,
                "verdict": self.verdict.to_json() if self.verdict else None}


def study_status(cfg: StudyConfig) -> Status:
    """A snapshot of the study ``cfg`` names."""
    study = load_existing_study(cfg)
    trials = with_retries(lambda: study.get_trials(deepcopy=False), "reading trials")
    counts = state_counts(trials)
    top = ranked(trials, cfg.direction)
    now, beats = with_retries(lambda: last_heartbeats(storage_of(study), study_id_of(study)), "reading heartbeats")
    running = []
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        hb = beats.get(trial_id_of(t))
        running.append(RunningTrial(TrialSummary.of(t), hb.isoformat(sep=" ", timespec="seconds") if hb else None,
                                    round((now - hb).total_seconds(), 1) if hb else None,
                                    bool(hb and (now - hb).total_seconds() > cfg.heartbeat.grace_period)))
    interrupted = interrupted_numbers(trials)  # re-queued, not failed: listed in no "failed" line
    failed = [FailedTrial(t.number, t.user_attrs.get("fail_reason", "worker died (heartbeat stale)"))
              for t in trials if t.state == TrialState.FAIL and t.number not in interrupted]
    return Status(cfg.name, cfg.storage_masked, cfg.direction, cfg.metric, cfg.n_trials, counts,
                  finished_for_budget(counts), TrialSummary.of(top[0]) if top else None,
                  compute_spent(trials, cfg.direction), running, failed[-10:], confirmed_ranking(study),
                  study_verdict(cfg, study))


def format_status(s: Status) -> str:
    c = s.counts
    lines = [f"study {s.study}  ({s.storage})",
             f"budget: {s.finished_for_budget}/{s.n_trials} finished (COMPLETE + PRUNED)",
             "trials: " + count_words(c)]
    b = s.best
    if b:
        lines.append(f"best: trial {b.number}  {s.metric}={b.value:.6g}  (best epoch {b.best_epoch}"
                     + (f" of {b.epochs_run} run)" if b.epochs_run is not None else ")"))
        lines.append("  params:  " + ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items()))
        if b.metrics:
            lines.append("  metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in b.metrics.items()))
    else:
        lines.append("best: none yet (no COMPLETE trial)")
    cp = s.compute
    if cp["best_trial"] is not None:
        lines.append(f"compute: {cp['epochs']:,} epochs in {cp['finished_trials']} finished trials; the best was "
                     f"found by trial {cp['best_trial']} after {cp['best_found_after_trials']} trials and "
                     f"{cp['best_found_at_epochs']:,} epochs")
    if s.confirmation:
        lines.append("confirmed ranking (fresh seeds, mean of the folds):")
        for r in s.confirmation[:5]:
            se = f"{r.se:.4g}" if r.se is not None else "-"
            lines.append(f"  {r.rank}. trial {r.trial}{' (the defaults)' if r.defaults else ''}: {r.mean:.6g} "
                         f"(SE {se}, {r.n} seeds)")
    lines.append(format_verdict(s.verdict))
    if s.running:
        lines.append("running:")
        for r in s.running:
            age = "no heartbeat yet" if r.heartbeat_age_s is None else f"last heartbeat {r.heartbeat_age_s:.0f}s ago"
            lines.append(f"  trial {r.trial.number}  epoch {r.trial.last_epoch_reported or 0}  {r.trial.worker}  {age}"
                         f"{'  STALE (will be retried)' if r.stale else ''}")
    for f in s.failed:
        lines.append(f"failed: trial {f.number}: {f.fail_reason[:160]}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)
