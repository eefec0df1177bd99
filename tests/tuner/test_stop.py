"""Stopping with real processes and real signals: `tune` in each phase (data, search, confirmation), then
`launch` (a second Ctrl-C), `confirm` and `worker`. A stop ends the command with 128 + the signal's number,
starts no next phase, re-queues the running trials and ends with what was finished and the one command
that resumes."""
from __future__ import annotations

import signal

import optuna
import pytest
from _study import env, reap, start, wait_for, write_study
from optuna.trial import TrialState

from tuner.signals import StopFlag
from tuner.study_config import load_study_config
from tuner.worker import run_worker

pytestmark = pytest.mark.slow

EPOCHS = 20  # many short epochs, so a signal sent after the first reported epoch lands mid-trial


def _study(tmp_path, name, n_trials=1, **tables):
    return write_study(tmp_path, name=name, n_trials=n_trials,
                       train={"epochs": EPOCHS, "samples_per_epoch": 2048, "hidden_dim": 16},
                       search={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
                       worker={"n_workers": 1, "stagger_seconds": 0}, **tables)


def _trials(path, suffix=""):
    cfg = load_study_config(path)
    try:
        return optuna.load_study(study_name=cfg.name + suffix, storage=cfg.storage).get_trials()
    except Exception:  # noqa: BLE001 - not created yet
        return []


def _reported(path, suffix=""):
    return max((max(t.intermediate_values, default=0) for t in _trials(path, suffix)), default=0)


def _log(path):
    return path.read_text(errors="replace") if path.exists() else ""


def _stop_and_wait(proc, log, *signums, timeout=120):
    for s in signums:
        proc.send_signal(s)
    try:
        return proc.wait(timeout=timeout)
    except Exception:
        raise AssertionError(f"did not end after {signums}:\n{_log(log)[-4000:]}") from None


def _stopped(tmp_path, cache, name, args, until, what, signum, timeout=240):
    """Start `stocktune NAME ARGS`, wait until ``until()``, send ``signum``; (exit code, the log's text)."""
    log = tmp_path / f"{name}.log"
    p = start(name, *args, cwd=tmp_path, env=env(cache), log=log)
    try:
        wait_for(until, timeout, what, every=0.2)
        rc = _stop_and_wait(p, log, signum)
    finally:
        reap(p)
    return rc, _log(log)


def _assert_requeued(trials):
    """Nothing RUNNING; the interrupted trial FAIL with the stop as its reason and a WAITING copy."""
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    [stopped] = [t for t in trials if t.state == TrialState.FAIL]
    assert stopped.user_attrs["fail_reason"].startswith("interrupted")
    assert max(stopped.intermediate_values) < EPOCHS  # stopped mid-trial, not at its end
    assert [t.system_attrs["retry_history"] for t in trials if t.state == TrialState.WAITING] == [[stopped.number]]


def _assert_stop_lines(text, signame, phase_words, resume):
    tail = text.rstrip().splitlines()[-5:]
    assert any(f"stopped by {signame} {phase_words}".rstrip() in line for line in tail), text[-3000:]
    assert tail[-1].strip() == resume, text[-3000:]


def test_tune_stopped_while_preparing_the_data_exits_130_and_starts_no_search(tmp_path):
    # a fresh cache and a market that takes a while to prepare: the signal lands in the data phase
    path = write_study(tmp_path, name="prep", n_trials=1, data={"source": "synthetic:tickers=400,days=3000,seed=3",
                                                                "look_back": 20, "look_ahead": 5})
    log = tmp_path / "tune.log"
    p = start("tune", str(path), cwd=tmp_path, env=env(tmp_path / "fresh-cache"), log=log)
    try:
        wait_for(lambda: "preparing data" in _log(log), 120, "tune to start preparing the data", every=0.1)
        rc = _stop_and_wait(p, log, signal.SIGINT)
    finally:
        reap(p)
    text = _log(log)
    assert rc == 130, text[-3000:]
    assert "worker 0: pid" not in text and not _trials(path)  # no search started, no study created
    _assert_stop_lines(text, "SIGINT", "while preparing the data", f"stocktune tune {path}")
    assert "search: not started." in text


def test_tune_stopped_during_the_search_exits_130_without_confirming(tmp_path, tuner_cache):
    path = _study(tmp_path, "search", confirm={"top_k": 1, "seeds": 1})
    rc, text = _stopped(tmp_path, tuner_cache, "tune", (str(path), "--n-trials", "1", "--threads", "1"),
                        lambda: _reported(path) >= 1, "the trial to report an epoch", signal.SIGINT)
    assert rc == 130, text[-3000:]
    assert "confirming the top" not in text and not _trials(path, ".confirm")  # no next phase
    _assert_requeued(_trials(path))
    _assert_stop_lines(text, "SIGINT", "during the search", f"stocktune tune {path} --n-trials 1 --threads 1")
    assert "search: 0 of 1 trials finished (0 complete, 0 pruned), 1 interrupted, 0 failed." in text
    assert "confirmation: not started." in text


def test_tune_stopped_during_the_confirmation_exits_143(tmp_path, tuner_cache):
    # confirmation runs of the whole budget (20 epochs): a run of the trial's best epoch may be 1-2 epochs
    # long and end before the signal lands
    path = _study(tmp_path, "conf", confirm={"top_k": 1, "seeds": 1}, extra={"refit_epochs": "budget"})
    rc, text = _stopped(tmp_path, tuner_cache, "tune", (str(path), "--threads", "1"),
                        lambda: _reported(path, ".confirm") >= 1, "a confirmation run to report an epoch",
                        signal.SIGTERM, timeout=400)
    assert rc == 143, text[-3000:]
    _assert_requeued(_trials(path, ".confirm"))
    assert "confirmed ranking" not in text and "best: trial" not in text  # it ended there: no status after it
    _assert_stop_lines(text, "SIGTERM", "during the confirmation", f"stocktune tune {path} --threads 1")
    assert "search: 1 of 1 trials finished (1 complete, 0 pruned), 0 interrupted, 0 failed." in text
    assert "confirmation: 0 of 1 confirmation runs finished" in text


def test_a_second_ctrl_c_stops_launch_at_once_with_130(tmp_path, tuner_cache):
    path = _study(tmp_path, "twice", n_trials=2)
    log = tmp_path / "launch.log"
    p = start("launch", str(path), "--threads", "1", cwd=tmp_path, env=env(tuner_cache), log=log)
    try:
        wait_for(lambda: _reported(path) >= 1, 240, "the trial to report an epoch", every=0.2)
        p.send_signal(signal.SIGINT)
        wait_for(lambda: "asking 1 worker(s) to stop after their current epoch" in _log(log), 30, "the first stop")
        rc = _stop_and_wait(p, log, signal.SIGINT)
    finally:
        reap(p)
    text = _log(log)
    assert rc == 130, text[-3000:]
    assert "to stop now" in text
    trials = _trials(path)
    assert max(trials[0].intermediate_values) < EPOCHS
    assert not [t for t in trials if t.state == TrialState.COMPLETE]
    _assert_stop_lines(text, "SIGINT", "during the search", f"stocktune launch {path} --threads 1")


def test_confirm_and_worker_exit_143_on_sigterm_and_say_how_to_resume(tmp_path, tuner_cache, monkeypatch):
    path = _study(tmp_path, "cw", n_trials=1)
    monkeypatch.setenv("STOCKTUNE_CACHE", str(tuner_cache))
    run_worker(load_study_config(path), stop=StopFlag(), worker_index=0)  # one complete trial to confirm
    rc, text = _stopped(tmp_path, tuner_cache, "confirm", (str(path), "--top-k", "1", "--seeds", "1", "--threads", "1"),
                        lambda: _reported(path, ".confirm") >= 1, "the confirmation run to report an epoch",
                        signal.SIGTERM)
    assert rc == 143, text[-3000:]
    _assert_requeued(_trials(path, ".confirm"))
    _assert_stop_lines(text, "SIGTERM", "during the confirmation",
                       f"stocktune confirm {path} --threads 1 --top-k 1 --seeds 1")

    rc, text = _stopped(tmp_path, tuner_cache, "worker", (str(path), "--n-trials", "2", "--threads", "1"),
                        lambda: len(_trials(path)) >= 2 and max(_trials(path)[1].intermediate_values, default=0) >= 1,
                        "trial 1 to report an epoch", signal.SIGTERM)
    assert rc == 143, text[-3000:]
    assert "worker done: 0 complete, 0 pruned, 1 interrupted, 0 failed" in text
    _assert_requeued(_trials(path))
    _assert_stop_lines(text, "SIGTERM", "", f"stocktune worker {path} --n-trials 2 --threads 1")
