"""A trial over walk-forward folds, in-process: every fold trained, the mean scored, one step axis,
pruning within the first fold, and a stop in fold 2 resumed without training fold 1 again."""
from __future__ import annotations

import numpy as np
import optuna
import pytest
from _study import ScriptedFit, trials, write_study
from optuna.trial import TrialState

import model
from tuner.objective import series_path
from tuner.signals import StopFlag
from tuner.study_config import load_study_config
from tuner.worker import run_worker

E = 4  # epochs per fold




def test_a_trial_trains_every_fold_and_scores_their_mean(study_dir, monkeypatch):
    fake = ScriptedFit(fold_shift=0.01)
    monkeypatch.setattr(model, "fit", fake)
    cfg = load_study_config(write_study(study_dir, n_trials=2, train={"epochs": E}, validation={"folds": 3}))
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    t = trials(cfg)[0]
    assert t.state == TrialState.COMPLETE
    folds = t.user_attrs["fold_values"]
    assert len(folds) == 3 and t.value == pytest.approx(np.mean(folds)) and len(set(folds)) > 1
    assert t.user_attrs["fold_std"] == pytest.approx(np.std(folds, ddof=1))
    assert sorted(t.intermediate_values) == list(range(1, 3 * E + 1))  # one step axis: fold x epoch
    assert t.user_attrs["val_mae"] == pytest.approx(t.value)
    periods = [f["val"] for f in t.user_attrs["folds"]]
    assert periods[0][1] < periods[1][0] and periods[1][1] < periods[2][0]
    assert [c["fold"] for c in fake.calls[:3]] == [1, 2, 3]


def test_a_clearly_bad_trial_is_pruned_during_its_first_fold(study_dir, monkeypatch):
    fake = ScriptedFit()
    monkeypatch.setattr(model, "fit", fake)
    path = write_study(study_dir, n_trials=4, train={"epochs": E}, validation={"folds": 3},
                       search={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}},
                       pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1})
    cfg = load_study_config(path)
    study = optuna.create_study(study_name=cfg.name, storage=cfg.storage)
    for lr in (3e-3, 3.1e-3, 9e-2):  # two good trials, then one far off
        study.enqueue_trial({"learning_rate": lr})
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    ts = trials(cfg)
    assert [t.state for t in ts[:2]] == [TrialState.COMPLETE] * 2
    bad = ts[2]
    assert bad.params["learning_rate"] == pytest.approx(9e-2)
    assert bad.state == TrialState.PRUNED and max(bad.intermediate_values) <= E  # still in fold 1
    assert sum(c["cfg"].learning_rate == pytest.approx(9e-2) for c in fake.calls) == 1  # fold 2 never trained


def test_a_stop_in_fold_2_resumes_there(study_dir, monkeypatch):
    stop = StopFlag()
    fake = ScriptedFit(stop_at=2, stop_flag=stop)
    monkeypatch.setattr(model, "fit", fake)
    cfg = load_study_config(write_study(study_dir, n_trials=1, train={"epochs": E}, validation={"folds": 2}))
    fake.stop_at = None
    calls = []

    def stop_in_fold_2(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # the second fold's fit: stop after its epoch 2
            fake.stop_at = 2
        return fake(*a, **k)

    monkeypatch.setattr(model, "fit", stop_in_fold_2)
    run_worker(cfg, stop=stop, worker_index=0)
    ts = trials(cfg)
    assert [t.state for t in ts] == [TrialState.FAIL, TrialState.WAITING]
    monkeypatch.setattr(model, "fit", fake)
    n_before = len(fake.calls)
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    retry = trials(cfg)[1]
    assert retry.state == TrialState.COMPLETE
    resumed = fake.calls[n_before:]
    assert [c["epochs"] for c in resumed] == [[], [3, 4]]  # fold 1 from its checkpoint, fold 2 from epoch 3
    assert retry.user_attrs["resumed_from_epoch"] == {"1": E, "2": 2}
    assert sorted(retry.intermediate_values) == list(range(1, 2 * E + 1))


def test_the_real_trainer_writes_the_validation_series_of_each_fold(study_dir):
    cfg = load_study_config(write_study(study_dir, n_trials=1, train={"epochs": 2}, validation={"folds": 2}))
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    t = trials(cfg)[0]
    data = np.load(series_path(cfg, t.number))
    dates = data["date"].astype("datetime64[D]")
    for f in t.user_attrs["folds"]:  # dates of both folds' validation blocks, and only those
        assert ((dates >= np.datetime64(f["val"][0])) & (dates <= np.datetime64(f["val"][1]))).any()
    inside = np.zeros(dates.size, bool)
    for f in t.user_attrs["folds"]:
        inside |= (dates >= np.datetime64(f["val"][0])) & (dates <= np.datetime64(f["val"][1]))
    assert inside.all() and (data["n"] > 0).all()
    mae = data["err"].sum() / data["n"].sum()
    assert mae == pytest.approx(np.mean(t.user_attrs["fold_values"]), rel=0.1)
