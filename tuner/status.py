"""What a study looks like right now: trials by state, the best trial, the running ones.

Read-only: it loads the study without a heartbeat and never creates it, so pointing `status` at a
wrong name or URL fails clearly instead of leaving an empty study behind.
"""
from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import TrialState

from model.metric_names import VALIDATION_METRICS

from .confirm import confirmed_ranking
from .optuna_adapter import last_heartbeats, storage_of, study_id_of, trial_id_of
from .retry import with_retries
from .study import load_existing_study
from .study_config import StudyConfig
from .trials import compute_spent, count_words, finished_for_budget, interrupted_numbers, ranked, state_counts
from .verdict import format_verdict, study_verdict

__all__ = ["study_status", "format_status"]


def _trial_summary(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
        "metrics": {k: t.user_attrs[k] for k in VALIDATION_METRICS if k in t.user_attrs},
        "best_epoch": t.user_attrs.get("best_epoch"), "epochs_run": t.user_attrs.get("epochs_run"),
        "last_epoch_reported": max(t.intermediate_values, default=None),
        "worker": f"{t.user_attrs.get('worker_host', '?')}:{t.user_attrs.get('worker_pid', '?')}",
    }


def study_status(cfg: StudyConfig) -> dict[str, Any]:
    """A JSON-friendly snapshot (the storage URL masked)."""
    study = load_existing_study(cfg)
    trials = with_retries(lambda: study.get_trials(deepcopy=False), "reading trials")
    counts = state_counts(trials)
    top = ranked(trials, cfg.direction)
    best = _trial_summary(top[0]) if top else None
    now, beats = with_retries(lambda: last_heartbeats(storage_of(study), study_id_of(study)), "reading heartbeats")
    running = []
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        s = _trial_summary(t)
        hb = beats.get(trial_id_of(t))
        s["last_heartbeat"] = hb.isoformat(sep=" ", timespec="seconds") if hb else None
        s["heartbeat_age_s"] = round((now - hb).total_seconds(), 1) if hb else None
        s["stale"] = bool(hb and (now - hb).total_seconds() > cfg.heartbeat.grace_period)
        running.append(s)
    interrupted = interrupted_numbers(trials)  # re-queued, not failed: listed in no "failed" line
    failed = [{"number": t.number, "fail_reason": t.user_attrs.get("fail_reason", "worker died (heartbeat stale)")}
              for t in trials if t.state == TrialState.FAIL and t.number not in interrupted]
    return {
        "study": cfg.name, "storage": cfg.storage_masked, "direction": cfg.direction, "metric": cfg.metric,
        "n_trials": cfg.n_trials, "counts": counts,
        "finished_for_budget": finished_for_budget(counts),
        "best": best, "compute": compute_spent(trials, cfg.direction), "running": running, "failed": failed[-10:],
        "confirmation": confirmed_ranking(study), "verdict": study_verdict(cfg, study),
    }


def format_status(s: dict[str, Any]) -> str:
    c = s["counts"]
    lines = [f"study {s['study']}  ({s['storage']})",
             f"budget: {s['finished_for_budget']}/{s['n_trials']} finished (COMPLETE + PRUNED)",
             "trials: " + count_words(c)]
    b = s["best"]
    if b:
        lines.append(f"best: trial {b['number']}  {s['metric']}={b['value']:.6g}  (best epoch {b['best_epoch']})")
        lines.append("  params:  " + ", ".join(f"{k}={_fmt(v)}" for k, v in b["params"].items()))
        if b["metrics"]:
            lines.append("  metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in b["metrics"].items()))
    else:
        lines.append("best: none yet (no COMPLETE trial)")
    cp = s["compute"]
    if cp["best_trial"] is not None:
        lines.append(f"compute: {cp['epochs']:,} epochs in {cp['finished_trials']} finished trials; the best was "
                     f"found by trial {cp['best_trial']} after {cp['best_found_after_trials']} trials and "
                     f"{cp['best_found_at_epochs']:,} epochs")
    if s.get("confirmation"):
        lines.append("confirmed ranking (fresh seeds, mean of the folds):")
        for r in s["confirmation"][:5]:
            se = f"{r.se:.4g}" if r.se is not None else "-"
            lines.append(f"  {r.rank}. trial {r.trial}{' (the defaults)' if r.defaults else ''}: {r.mean:.6g} "
                         f"(SE {se}, {r.n} seeds)")
    lines.append(format_verdict(s.get("verdict")))
    if s["running"]:
        lines.append("running:")
        for r in s["running"]:
            age = "no heartbeat yet" if r["heartbeat_age_s"] is None else f"last heartbeat {r['heartbeat_age_s']:.0f}s ago"
            lines.append(f"  trial {r['number']}  epoch {r['last_epoch_reported'] or 0}  {r['worker']}  {age}"
                         f"{'  STALE (will be retried)' if r['stale'] else ''}")
    for f in s["failed"]:
        lines.append(f"failed: trial {f['number']}: {f['fail_reason'][:160]}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)
