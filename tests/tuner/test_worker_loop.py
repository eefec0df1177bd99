"""The worker loop in-process, with a scripted `model.fit` so each behaviour is exact and fast:
failures are recorded and skipped, pruning stops a trial, a stop request re-queues the trial and
the retry resumes from its checkpoint, user attrs are JSON and prove the test period is unused."""
from __future__ import annotations

import json
import os
from pathlib import Path

from _study import ScriptedFit, trials, write_study
from optuna.trial import TrialState

import model
import tuner.story
from tuner.signals import StopFlag
from tuner.study_config import load_study_config
from tuner.worker import run_worker


def test_failing_trials_are_recorded_and_the_worker_goes_on(study_dir, monkeypatch):
    fake = ScriptedFit(fail_if=lambda c: c.cell == "lstm")
    monkeypatch.setattr(model, "fit", fake)
    cfg = load_study_config(write_study(study_dir, n_trials=4, search={
        "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}, "cell": {"choices": ["gru", "lstm"]}},
        sampler={"name": "random", "seed": 0}))
    s = run_worker(cfg, stop=StopFlag(), worker_index=0)
    ts = trials(cfg)
    assert s.complete == 4 and not s.gave_up
    failed = [t for t in ts if t.state == TrialState.FAIL]
    assert failed and all(t.params["cell"] == "lstm" for t in failed)
    assert all("NonFiniteLoss" in t.user_attrs["fail_reason"] for t in failed)
    assert sum(t.state == TrialState.COMPLETE for t in ts) == 4


def test_a_worker_gives_up_when_every_trial_fails(study_dir, monkeypatch):
    monkeypatch.setattr(model, "fit", ScriptedFit(fail_if=lambda c: True))
    cfg = load_study_config(write_study(study_dir, n_trials=3, worker={"max_failures_in_a_row": 3}))
    s = run_worker(cfg, stop=StopFlag(), worker_index=0)
    assert s.gave_up and s.failed == 3
    assert [t.state for t in trials(cfg)] == [TrialState.FAIL] * 3


def test_pruning_stops_bad_trials_early(study_dir, monkeypatch):
    fake = ScriptedFit()
    monkeypatch.setattr(model, "fit", fake)
    cfg = load_study_config(write_study(
        study_dir, n_trials=10, train={"epochs": 6},
        search={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}},
        pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        sampler={"name": "random", "seed": 3}))
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    ts = trials(cfg)
    pruned = [t for t in ts if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in ts]
    assert all(t.user_attrs["epochs_run"] < 6 for t in pruned)
    assert all(max(t.intermediate_values) == t.user_attrs["epochs_run"] for t in pruned)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts) == 10


def test_stop_requeues_the_trial_and_the_retry_resumes_from_its_checkpoint(study_dir, monkeypatch):
    stop = StopFlag()
    fake = ScriptedFit(stop_at=2, stop_flag=stop)
    monkeypatch.setattr(model, "fit", fake)
    cfg = load_study_config(write_study(study_dir, n_trials=2, train={"epochs": 4}))
    s = run_worker(cfg, stop=stop, worker_index=0)
    assert s.interrupted
    ts = trials(cfg)
    assert [t.state for t in ts] == [TrialState.FAIL, TrialState.WAITING]  # nothing left RUNNING
    assert "SIGTERM" in ts[0].user_attrs["fail_reason"]
    assert ts[1].system_attrs["failed_trial"] == 0 and ts[1].params == ts[0].params

    s = run_worker(cfg, stop=StopFlag(), worker_index=0)  # the next worker picks the retry up first
    ts = trials(cfg)
    retry = ts[1]
    assert retry.state == TrialState.COMPLETE
    assert fake.calls[1]["resume_from"] == cfg.checkpoint_dir / "0.pt"
    assert retry.user_attrs["resumed_from_epoch"] == {"1": 2}  # fold -> epoch
    assert retry.user_attrs["first_reported_step"] == 3 and fake.calls[1]["epochs"] == [3, 4]
    assert retry.user_attrs["retried_from"] == 0 and retry.user_attrs["lineage"] == 0
    assert sorted(retry.intermediate_values) == [1, 2, 3, 4]  # inherited 1-2, reported 3-4
    assert sum(t.state == TrialState.COMPLETE for t in ts) == 2


def test_user_attrs_are_json_and_never_mention_the_test_period(study_dir, monkeypatch):
    monkeypatch.setattr(model, "fit", ScriptedFit())
    seen = []
    monkeypatch.setattr(tuner.story, "on_trial_complete", lambda *a: seen.append(a[1].number))
    monkeypatch.setattr(tuner.story, "study_note", lambda *a, **k: 1 / 0)  # a broken note is only a warning
    cfg = load_study_config(write_study(study_dir, n_trials=2))
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    ts = trials(cfg)
    assert seen == [0, 1]
    from data_prep.pipeline import prepare
    meta = prepare(cfg.data.source, cfg.data.prep, Path(os.environ["STOCKTUNE_CACHE"])).dataset().meta
    test_start = meta["splits"]["test"]["start"]
    for t in ts:
        ua = t.user_attrs
        json.dumps(ua)
        for key in ("val_mae", "val_ic", "val_icir", "val_dir_acc", "val_skill_half", "val_skill_mean", "val_rmse",
                    "best_epoch", "epochs_run", "samples_per_s", "peak_rss_mb", "device", "dataset_cache_key",
                    "stocktune_version", "worker_host", "worker_pid"):
            assert key in ua, key
        assert set(ua["data_splits_used"]) == {"train", "val"}
        assert ua["data_splits_used"]["val"][1] < test_start
        assert ua["dataset_cache_key"] == meta["cache_key"]
