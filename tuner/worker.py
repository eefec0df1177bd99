"""The worker loop: pull trials from the shared study until the global budget or timeout is reached.

Written with ask/tell rather than ``study.optimize`` so that every storage call can be retried
through a database outage, the heartbeat survives one, and a stop request can fail-and-requeue
the running trial instead of leaving it RUNNING. The budget counts COMPLETE + PRUNED trials
across all workers (Optuna's ``MaxTrialsCallback`` rule); a worker does not start a new trial
while the finished plus in-flight trials already cover the budget, so the overshoot stays below
the number of workers.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from common import env
from data_prep.folds import plan_folds

from . import story
from .heartbeat import Heartbeat
from .objective import Objective, TrialInterrupted, checkpoint_path, lineage_of
from .optuna_adapter import last_heartbeats, storage_of, study_id_of, trial_id_of
from .retry import with_retries
from .signals import StopFlag
from .storage import artifact_store, retry_callback
from .strategy import make_pruner, make_sampler
from .study import load_or_create_study
from .study_config import StudyConfig, describe
from .trials import INTERRUPTED_REASON, finished_for_budget, state_counts

__all__ = ["run_worker", "run_confirmation", "WorkerSummary"]

log = logging.getLogger("stocktune.worker")

@dataclass
class WorkerSummary:
    complete: int = 0
    pruned: int = 0
    failed: int = 0  # with an error
    requeued: int = 0  # interrupted by the stop and re-queued: they resume from their checkpoints
    interrupted: bool = False
    gave_up: bool = False  # stopped after [worker] max_failures_in_a_row failures in a row


def _fail_orphans(study: optuna.Study, grace: float) -> None:
    """RUNNING trials that never got a heartbeat (worker killed between ask and its first beat)
    are invisible to Optuna's stale check; fail and re-queue them once they are old enough."""
    storage = storage_of(study)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return
    now, beats = last_heartbeats(storage, study_id_of(study))
    for t in running:
        if trial_id_of(t) in beats or t.datetime_start is None:
            continue
        if (now - t.datetime_start.replace(tzinfo=None)).total_seconds() > 2 * grace:
            try:
                if storage.set_trial_state_values(trial_id_of(t), state=TrialState.FAIL):
                    retry_callback()(study, storage.get_trial(trial_id_of(t)))
                    log.warning("trial %d had no heartbeat for %.0fs: failed and re-queued", t.number, 2 * grace)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass


def _tell(study: optuna.Study, trial: optuna.Trial, state: TrialState,
          value: float | None) -> optuna.trial.FrozenTrial | None:
    """Tell the result; the finished trial as stored, or None when a retried tell found it committed."""
    def tell() -> optuna.trial.FrozenTrial | None:
        try:
            return study.tell(trial, value if state == TrialState.COMPLETE else None, state=state,
                              skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            return None  # a retried tell whose first attempt had committed

    return with_retries(tell, "telling the trial's result")


def _run_trial(study: optuna.Study, cfg: StudyConfig, objective: Objective, store: Any) -> tuple[TrialState, bool]:
    """Ask, train, tell one trial: its stored state, and whether it was interrupted and re-queued."""
    storage = storage_of(study)
    trial = with_retries(study.ask, "asking for a trial")
    t0 = time.monotonic()
    state, value, reason = TrialState.FAIL, None, ""
    with Heartbeat(storage, trial_id_of(trial), cfg.heartbeat.interval):
        try:
            value = objective(trial)
            state = TrialState.COMPLETE
        except optuna.TrialPruned as e:
            state = TrialState.PRUNED
            log.info("trial %d %s", trial.number, e)
        except (TrialInterrupted, KeyboardInterrupt) as e:
            reason = f"{INTERRUPTED_REASON}: {e or 'KeyboardInterrupt'}; re-queued to resume from its checkpoint"
            objective.stop.set(str(e) or "KeyboardInterrupt")
        except Exception as e:  # noqa: BLE001 - a failing trial is recorded, the worker goes on
            reason = f"{type(e).__name__}: {e}"
            log.warning("trial %d failed with params %s: %s\n%s", trial.number, trial.params, reason,
                        traceback.format_exc())
        if state == TrialState.FAIL:
            try:
                with_retries(lambda: trial.set_user_attr("fail_reason", reason[:2000]), "recording fail_reason")
            except Exception:  # noqa: BLE001
                log.warning("could not record fail_reason of trial %d", trial.number)
        told = _tell(study, trial, state, value)
    frozen = told or with_retries(lambda: storage.get_trial(trial_id_of(trial)), "reading the finished trial")
    requeued = False
    if state == TrialState.FAIL and objective.stop:
        # re-queue with the same params; the retry carries retry_history and resumes the checkpoint
        if frozen.state == TrialState.FAIL:
            with_retries(lambda: retry_callback()(study, frozen), "re-queueing the interrupted trial")
            requeued = reason.startswith(INTERRUPTED_REASON)  # an error meanwhile stays a failure
            log.warning("trial %d interrupted and re-queued (lineage %d, checkpoint %s)", trial.number,
                        lineage_of(frozen), checkpoint_path(cfg, lineage_of(frozen)))
    epochs = frozen.user_attrs.get("epochs_run", "?")
    score = f"{cfg.metric}={value:.5g}" if value is not None else (reason.split(";")[0] if reason else "")
    # one line per trial on stderr: a worker's progress even without -v
    shown = "INTERRUPTED" if requeued else frozen.state.name  # the user's word (see trials.py)
    print(f"[{cfg.name}] trial {trial.number} {shown} {score} ({epochs} epochs, "
          f"{time.monotonic() - t0:.1f}s)", file=sys.stderr, flush=True)
    if state == TrialState.COMPLETE:
        log.info("trial %d finished: %s=%.6g params=%s", trial.number, cfg.metric, value, trial.params)
        run = objective.last
        story.on_trial_complete(study, frozen, run.fits if run else [], store, run.checkpoint if run else None)
    return frozen.state, requeued


def worker_index_from_env() -> int:
    """$STOCKTUNE_WORKER_INDEX (set by `launch`), else an offset derived from the pid: workers started
    by hand must not share a sampler seed, or their random start-up trials would be identical."""
    value = env.get("STOCKTUNE_WORKER_INDEX")
    if value is not None and value.isdigit():
        return int(value)
    return 1 + os.getpid() % 100_000


def run_worker(cfg: StudyConfig, threads: int | None = None, progress: bool = False,
               stop: StopFlag | None = None, worker_index: int | None = None, queued_only: bool = False) -> WorkerSummary:
    """Run trials until the study's budget (cfg.n_trials, COMPLETE + PRUNED) or cfg.timeout.

    ``worker_index`` offsets the sampler seed (None: from the environment, see worker_index_from_env).
    ``queued_only``: run only enqueued (WAITING) trials, never sample a new one (confirmation runs).
    Returns normally on budget, timeout or a stop request (``stop`` is then set: the CLI exits 128 + the
    signal's number); a stop during data preparation raises ``signals.Stopped``.
    """
    stop = stop if stop is not None else StopFlag().install()
    summary = WorkerSummary()
    log.info("study resolved: %s", describe(cfg))
    from data_prep import prepare  # the dataset is built once (cache + lock) and memory-mapped

    with stop.immediately():  # nothing to save yet: a signal during data preparation stops at once
        prep = prepare(cfg.data.source, cfg.data.prep, env.cache_root(), progress=progress)
        dataset = prep.dataset()
        folds = plan_folds(dataset, cfg.validation, f"{cfg.path}, [validation]")
    index = worker_index_from_env() if worker_index is None else worker_index
    study = load_or_create_study(cfg, sampler=make_sampler(cfg, index), pruner=make_pruner(cfg, len(folds)),
                                 defaults_arm=not queued_only)
    def name_the_objective() -> None:
        # the dashboard then labels the objective axis "val_mae" instead of "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([cfg.metric])
        study.set_user_attr("objective_metric", cfg.metric)

    with_retries(name_the_objective, "setting study attrs")
    store = artifact_store(cfg)
    story.on_study_ready(study, cfg, prep, store, folds.describe())
    objective = Objective(cfg, dataset, folds, stop, threads=threads)

    started = time.monotonic()
    failures_in_a_row = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # we run our own heartbeat thread (see heartbeat.py), which Optuna's ask() cannot see
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        while not stop:
            if cfg.timeout is not None and time.monotonic() - started >= cfg.timeout:
                log.info("timeout of %.0fs reached", cfg.timeout)
                break
            with_retries(lambda: optuna.storages.fail_stale_trials(study), "failing stale trials")
            counts = with_retries(lambda: state_counts(study.get_trials(deepcopy=False)), "counting trials")
            done = finished_for_budget(counts)
            if done >= cfg.n_trials:
                break
            if queued_only and counts["WAITING"] == 0 and counts["RUNNING"] == 0:
                break  # every enqueued run is finished, or failed beyond its retries
            if counts["WAITING"] == 0 and (queued_only or done + counts["RUNNING"] >= cfg.n_trials):
                # the rest of the budget is in flight elsewhere: wait for it to finish or go stale
                with_retries(lambda: _fail_orphans(study, cfg.heartbeat.grace_period), "checking orphans")
                stop.wait(min(2.0, cfg.heartbeat.interval))
                continue
            state, requeued = _run_trial(study, cfg, objective, store)
            summary.complete += state == TrialState.COMPLETE
            summary.pruned += state == TrialState.PRUNED
            summary.failed += state == TrialState.FAIL and not requeued
            summary.requeued += requeued
            failures_in_a_row = failures_in_a_row + 1 if state == TrialState.FAIL and not stop else 0
            if failures_in_a_row >= cfg.worker.max_failures_in_a_row:
                log.error("%d trials failed in a row on this worker; stopping (see their fail_reason in "
                          "`stocktune status`)", failures_in_a_row)
                summary.gave_up = True
                break
    summary.interrupted = bool(stop)
    if not summary.interrupted and not queued_only:
        story.on_study_done(study, cfg, prep, folds.describe(), _verdict(cfg, study))
    with_retries(storage_of(study).remove_session, "closing the session")
    return summary


def _verdict(cfg: StudyConfig, study: optuna.Study) -> dict[str, Any] | None:
    from .verdict import study_verdict

    try:
        return study_verdict(cfg, study)
    except Exception:  # noqa: BLE001 - the verdict is a report; `status` shows it again
        log.warning("computing the verdict failed", exc_info=True)
        return None


def run_confirmation(cfg: StudyConfig, top_k: int, seeds: int, threads: int | None = None,
                     stop: StopFlag | None = None) -> WorkerSummary:
    """Enqueue the confirmation runs of ``cfg`` (once, whoever comes first) and work on them."""
    from data_prep import prepare

    from .confirm import enqueue_confirmation, summarize_confirmation

    ccfg = enqueue_confirmation(cfg, top_k, seeds)
    summary = run_worker(ccfg, threads=threads, stop=stop, worker_index=0, queued_only=True)
    if not summary.interrupted and summarize_confirmation(cfg):
        main = load_or_create_study(cfg, with_heartbeat=False, defaults_arm=False)
        prep = prepare(cfg.data.source, cfg.data.prep, env.cache_root())
        folds = plan_folds(prep.dataset(), cfg.validation, f"{cfg.path}, [validation]")
        story.on_study_done(main, cfg, prep, folds.describe(), _verdict(cfg, main))
    return summary
