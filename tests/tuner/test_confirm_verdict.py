"""Confirmation through the CLI (two workers share the runs; a killed one is resumed) and the verdict on
a small planted-signal market and a small market with no signal."""
from __future__ import annotations

import signal
import tomllib
from collections import Counter

import optuna
import pytest
from _study import env, reap, start, stocktune, wait_for, write_study
from optuna.trial import TrialState

from tuner.signals import StopFlag
from tuner.status import study_status
from tuner.study_config import load_study_config
from tuner.verdict import (
    AHEAD_NO_SKILL,
    BEATS,
    BETTER,
    NO_DEFAULTS,
    NOT_DISTINGUISHABLE,
    SAME,
    WINNER_IS_DEFAULTS,
    WORSE,
)
from tuner.worker import run_worker


def _load(cfg, suffix=""):
    return optuna.load_study(study_name=cfg.name + suffix, storage=cfg.storage)


@pytest.fixture()
def searched(tmp_path, tuner_cache, monkeypatch):
    """A finished 4-trial study on the sample data (in-process worker, real tiny trainer)."""
    monkeypatch.setenv("STOCKTUNE_CACHE", str(tuner_cache))
    path = write_study(tmp_path, name="c", n_trials=4, train={"epochs": 10, "samples_per_epoch": 1024})
    cfg = load_study_config(path)
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    return path, cfg


def test_two_confirm_workers_share_the_runs_and_export_uses_the_ranking(searched, tmp_path, tuner_cache):
    path, cfg = searched
    procs = []
    try:
        procs = [start("confirm", str(path), "--top-k", "2", "--seeds", "2", "--threads", "1", cwd=tmp_path,
                       env=env(tuner_cache), log=tmp_path / f"c{i}.log") for i in range(2)]
        for p in procs:
            p.wait(timeout=400)
        assert [p.returncode for p in procs] == [0, 0], "\n".join((tmp_path / f"c{i}.log").read_text()[-2000:]
                                                                  for i in range(2))
    finally:
        reap(*procs)
    runs = _load(cfg, ".confirm").get_trials()
    done = [(r.user_attrs["confirm_of"], r.user_attrs["confirm_seed"]) for r in runs if r.state == TrialState.COMPLETE]
    ranking = _load(cfg).user_attrs["confirmation"]
    # the top 2 and the defaults (trial 0; counted once when it is among the top 2), 2 seeds each
    assert len(ranking) in (2, 3) and sum(r["defaults"] for r in ranking) == 1
    assert [r["trial"] for r in ranking if r["defaults"]] == [0]
    assert len(done) == 2 * len(ranking) and max(Counter(done).values()) == 1  # every (trial, seed) once
    workers = {r.user_attrs["worker_pid"] for r in runs if r.state == TrialState.COMPLETE}
    assert len(workers) == 2  # both processes took runs
    assert {r["n"] for r in ranking} == {2} and [r["mean"] for r in ranking] == sorted(r["mean"] for r in ranking)

    r = stocktune("export", str(path), "--out", str(tmp_path / "best.toml"), cwd=tmp_path, env=env(tuner_cache))
    assert r.returncode == 0, r.stderr
    assert "ranked by the confirmation runs" in r.stderr
    text = (tmp_path / "best.toml").read_text()
    assert text.startswith("# stocktune export") and "# verdict on trial" in text
    doc = tomllib.loads(text)
    assert doc["result"]["trial"] == ranking[0]["trial"] and doc["result"]["ranked_by"] == "confirmation"
    assert doc["result"]["verdict_baselines"].startswith((BEATS, NOT_DISTINGUISHABLE))
    b = doc["result"]["verdict_defaults"]
    assert b.startswith((BETTER, AHEAD_NO_SKILL, SAME, WORSE, NO_DEFAULTS, WINNER_IS_DEFAULTS)), b
    if not b.startswith(BETTER):  # the warning says what to ship instead: a confirmed study's ensemble
        assert "WARNING" in r.stderr and f"stocktune export {path} --ensemble" in r.stderr, r.stderr
    if doc["result"]["verdict_baselines"].startswith(NOT_DISTINGUISHABLE):
        assert "WARNING" in r.stderr and "not distinguishable" in r.stderr


def test_a_killed_confirm_worker_is_resumed_by_the_next(searched, tmp_path, tuner_cache):
    path, cfg = searched
    # confirmation runs long enough to be killed inside one (the search's runs take < 0.1 s an epoch and
    # may stop at epoch 2: a kill could land between runs): 10 epochs of 8,192 samples each
    text = path.read_text().replace("samples_per_epoch = 1024", "samples_per_epoch = 8192")
    assert text != path.read_text()
    path.write_text('refit_epochs = "budget"\n' + text)
    a = b = None

    def reported() -> int:
        try:
            runs = _load(cfg, ".confirm").get_trials()
        except KeyError:
            return 0
        return max((max(r.intermediate_values, default=0) for r in runs), default=0)

    try:
        a = start("confirm", str(path), "--top-k", "1", "--seeds", "2", "--threads", "1", cwd=tmp_path,
                  env=env(tuner_cache), log=tmp_path / "a.log")
        wait_for(lambda: reported() >= 1, 240, "a confirmation run to report an epoch", every=0.05)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        b = start("confirm", str(path), "--top-k", "1", "--seeds", "2", "--threads", "1", cwd=tmp_path,
                  env=env(tuner_cache), log=tmp_path / "b.log")
        assert b.wait(timeout=400) == 0, (tmp_path / "b.log").read_text()[-3000:]
    finally:
        reap(*(p for p in (a, b) if p is not None))
    runs = _load(cfg, ".confirm").get_trials()
    done = [r for r in runs if r.state == TrialState.COMPLETE]
    seeds: dict[int, list[int]] = {}  # the top 1 and the defaults arm (one entry when the defaults won)
    for r in done:
        seeds.setdefault(r.user_attrs["confirm_of"], []).append(r.user_attrs["confirm_seed"])
    assert len(seeds) in (1, 2) and all(sorted(v) == [10_000, 10_001] for v in seeds.values()), seeds
    retried = [r for r in done if "failed_trial" in r.system_attrs]
    assert retried and retried[0].user_attrs["resumed_from_epoch"]["1"] >= 1  # from its checkpoint


def test_confirm_without_a_complete_trial_exits_2(tmp_path, tuner_cache):
    path = write_study(tmp_path, name="empty", n_trials=1)
    optuna.create_study(study_name="empty", storage=f"sqlite:///{tmp_path}/study.db")
    r = stocktune("confirm", str(path), cwd=tmp_path, env=env(tuner_cache))
    assert r.returncode == 2 and "no COMPLETE trial" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "x").mkdir()
    r = stocktune("confirm", str(write_study(tmp_path / "x", name="missing")), cwd=tmp_path, env=env(tuner_cache))
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("signal_strength, expected", [(1.5, BEATS), (0.0, NOT_DISTINGUISHABLE)],
                         ids=["planted-signal", "null"])
def test_the_verdict_on_a_planted_signal_and_on_no_signal(tmp_path, tuner_cache, monkeypatch, signal_strength,
                                                          expected):
    monkeypatch.setenv("STOCKTUNE_CACHE", str(tuner_cache))
    path = write_study(tmp_path, name="v", n_trials=6, train={"epochs": 4, "samples_per_epoch": 2048,
                                                              "val_samples": 2048, "hidden_dim": 16},
                       search={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
                       validation={"folds": 2}, sampler={"name": "random", "seed": 0},
                       data={"source": f"synthetic:tickers=30,days=1500,seed=5,signal={signal_strength}",
                             "look_back": 20, "look_ahead": 5})
    cfg = load_study_config(path)
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    a = study_status(cfg).verdict.baselines
    assert a.outcome == expected, a
    assert a.n_trials_examined == 6 and a.skill_half_se > 0 and a.pbo is not None
    if expected == BEATS:
        assert a.z > a.bar_z
