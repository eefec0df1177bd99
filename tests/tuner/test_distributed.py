"""Real studies on the sample data with tiny budgets, workers as subprocesses (always killed in finally):
two local workers on SQLite through `stocktune tune` (then export -> `stocktune fit`), two workers on a
real PostgreSQL server with a password that must never be printed, a worker killed with SIGKILL whose
trial is retried and resumed from its checkpoint, and SIGTERM leaving no RUNNING trial (exit 143)."""
from __future__ import annotations

import signal
import tomllib

import optuna
import pytest
from _study import env, reap, start, stocktune, wait_for, write_study
from optuna.trial import TrialState

from tuner.optuna_adapter import storage_of, study_id_of

pytestmark = pytest.mark.slow


def load(path, storage=None):
    from tuner.study_config import load_study_config

    cfg = load_study_config(path, storage=storage)
    return optuna.load_study(study_name=cfg.name, storage=cfg.storage)


def by_state(study):
    out = {s: [] for s in TrialState}
    for t in study.get_trials():
        out[t.state].append(t)
    return out


def test_tune_two_workers_on_sqlite_then_export_and_fit(tmp_path, tuner_cache):
    path = write_study(tmp_path, name="two", n_trials=5, worker={"n_workers": 2, "stagger_seconds": 0.5},
                       pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1})
    r = stocktune("tune", str(path), cwd=tmp_path, env=env(tuner_cache), timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "best: trial" in r.stdout and f"stocktune dashboard {path}" in r.stdout
    s = by_state(load(path))
    done = len(s[TrialState.COMPLETE]) + len(s[TrialState.PRUNED])
    assert 5 <= done <= 5 + 2 - 1  # overshoot at most workers - 1
    assert not s[TrialState.RUNNING] and not s[TrialState.FAIL]
    finished = s[TrialState.COMPLETE] + s[TrialState.PRUNED]
    assert len({t.user_attrs["worker_pid"] for t in finished}) == 2
    # each worker's sampler is seeded seed + index: parallel workers never draw the same point
    assert len({tuple(sorted(t.params.items())) for t in finished}) == len(finished)
    assert (tmp_path / "logs" / "worker-1.log").is_file()

    r = stocktune("export", str(path), "--out", "best.toml", cwd=tmp_path, env=env(tuner_cache), timeout=120)
    assert r.returncode == 0, r.stderr
    doc = tomllib.loads((tmp_path / "best.toml").read_text())
    assert doc["result"]["study"] == "two" and doc["train"]["device"] == "auto"
    r = stocktune("fit", "--config", "best.toml", "--quiet", cwd=tmp_path, env=env(tuner_cache), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]


@pytest.mark.postgres
def test_two_workers_on_postgres_never_print_the_password(tmp_path, tuner_cache, postgres_url):
    # trust auth ignores the password, so it can be a secret that must not leak anywhere
    url = postgres_url.replace("postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:hunter2secret@")
    path = write_study(tmp_path, name="pg", n_trials=4, storage=url)
    logs = [tmp_path / "w0.log", tmp_path / "w1.log"]
    procs = []
    try:
        procs = [start("worker", str(path), "--threads", "1", cwd=tmp_path, env=env(tuner_cache), log=log)
                 for log in logs]
        for p in procs:
            p.wait(timeout=400)
        assert [p.returncode for p in procs] == [0, 0], "\n".join(f.read_text()[-2000:] for f in logs)
    finally:
        reap(*procs)
    study = load(path)
    s = by_state(study)
    assert 4 <= len(s[TrialState.COMPLETE]) + len(s[TrialState.PRUNED]) <= 5
    assert not s[TrialState.RUNNING] and not s[TrialState.FAIL]
    assert len({t.user_attrs["worker_pid"] for t in study.trials}) == 2
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == len(study.trials)
    status = stocktune("status", str(path), cwd=tmp_path, timeout=120)
    export = stocktune("export", str(path), "--out", "best.toml", cwd=tmp_path, timeout=120)
    assert status.returncode == 0 and export.returncode == 0, status.stderr + export.stderr
    assert "postgres:***@" in status.stdout
    everything = (status.stdout + status.stderr + export.stdout + export.stderr
                  + (tmp_path / "best.toml").read_text() + "".join(f.read_text() for f in logs)
                  + repr([t.user_attrs for t in study.trials]) + repr([t.system_attrs for t in study.trials])
                  + repr(study.user_attrs) + repr(storage_of(study).get_study_system_attrs(study_id_of(study))))
    assert "hunter2secret" not in everything
    assert "postgres:***@" in (tmp_path / "best.toml").read_text()


SLOW_EPOCHS = 20


def _slow_trials(tmp_path, name, n_trials):
    # many short epochs (0.2-1 s each), so a signal sent after epoch 1 or 2 always lands mid-trial,
    # however fast or loaded the machine is
    return write_study(tmp_path, name=name, n_trials=n_trials,
                       train={"epochs": SLOW_EPOCHS, "samples_per_epoch": 2048, "hidden_dim": 16},
                       search={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}})


def _reported_epochs(path, number):
    try:
        trials = load(path).get_trials()
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return 0
    return max(trials[number].intermediate_values, default=0) if len(trials) > number else 0


def test_sigkilled_worker_trial_is_retried_and_resumes_mid_fold_from_its_checkpoints(tmp_path, tuner_cache):
    """Two folds of E epochs: killed in fold 2, the retry takes fold 1 from its checkpoint (no epoch
    trained again) and continues fold 2 after its last checkpointed epoch."""
    E = 15  # the kill lands at the start of fold 2, 14 epochs before the trial could end on a fast machine
    path = write_study(tmp_path, name="kill", n_trials=2,
                       train={"epochs": E, "samples_per_epoch": 2048, "hidden_dim": 16},
                       search={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}, validation={"folds": 2})
    a = b = None
    try:
        a = start("worker", str(path), "--threads", "1", cwd=tmp_path, env=env(tuner_cache), log=tmp_path / "a.log")
        wait_for(lambda: _reported_epochs(path, 0) >= E + 1, 240, "trial 0 to report an epoch of fold 2", every=0.2)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        killed_at = _reported_epochs(path, 0)
        b = start("worker", str(path), "--threads", "1", cwd=tmp_path, env=env(tuner_cache), log=tmp_path / "b.log")
        b.wait(timeout=400)
        assert b.returncode == 0, (tmp_path / "b.log").read_text()[-3000:]
    finally:
        reap(*(p for p in (a, b) if p is not None))
    trials = load(path).get_trials()
    assert trials[0].state == TrialState.FAIL  # failed by the heartbeat check, then retried
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.state == TrialState.COMPLETE and retry.params == trials[0].params
    assert retry.user_attrs["retried_from"] == 0 and retry.system_attrs["retry_history"] == [0]
    resumed = retry.user_attrs["resumed_from_epoch"]
    assert resumed["1"] == E  # fold 1 was finished: nothing of it is trained again
    assert E + resumed["2"] >= killed_at >= E + 1  # the checkpoint is written before the epoch is reported
    assert retry.user_attrs["first_reported_step"] == E + resumed["2"] + 1  # not from scratch
    assert sorted(retry.intermediate_values) == list(range(1, 2 * E + 1))
    assert len(retry.user_attrs["fold_values"]) == 2
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_sigterm_stops_within_an_epoch_leaves_nothing_running_and_exits_143(tmp_path, tuner_cache):
    path = _slow_trials(tmp_path, "term", n_trials=3)
    w = None
    try:
        w = start("worker", str(path), "--threads", "1", cwd=tmp_path, env=env(tuner_cache), log=tmp_path / "w.log")
        wait_for(lambda: _reported_epochs(path, 0) >= 1, 240, "trial 0 to report an epoch")
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=60) == 143, (tmp_path / "w.log").read_text()[-3000:]
    finally:
        reap(*(p for p in (w,) if p is not None))
    trials = load(path).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert trials[0].state == TrialState.FAIL and "SIGTERM" in trials[0].user_attrs["fail_reason"]
    assert max(trials[0].intermediate_values) < SLOW_EPOCHS  # stopped early, not at the end of the trial
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].system_attrs["failed_trial"] == 0
