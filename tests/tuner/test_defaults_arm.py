"""The defaults arm (issue 18 item 1): trial 0 of every study is the default configuration, enqueued once
however many workers start together; confirmation retrains it next to the top-k with the same seeds,
each run training the epochs its final refit will train (fix C); a study whose every trial was pruned
is reported, not crashed on (fix D)."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _study import Processes, ScriptedFit, env, stocktune, trials, write_study
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

import model
import tuner.worker
from common.errors import InputError
from tuner.confirm import CONFIRM_OF_ATTR, confirmed_ranking, enqueue_confirmation
from tuner.defaults_arm import DEFAULTS_ATTR, defaults_number
from tuner.export import export_best
from tuner.objective import CONFIRM_EPOCHS_ATTR, CONFIRM_SEED_ATTR
from tuner.signals import StopFlag
from tuner.space import default_params
from tuner.status import format_status, study_status
from tuner.study import load_or_create_study
from tuner.study_config import load_study_config
from tuner.verdict import study_verdict
from tuner.worker import run_confirmation, run_worker

SEARCH = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "default": 5e-3},
          "cell": {"choices": ["gru", "lstm"]}, "dropout": {"low": 0.0, "high": 0.2},
          "weight_decay": 1e-5}


# ------------------------------------------------------------------------------ what the defaults are

def test_default_params_take_search_default_then_train_then_trainconfig(tmp_path):
    cfg = load_study_config(write_study(tmp_path, search={**SEARCH, "hidden_dim": {"choices": [8, 16]}},
                                        train={"hidden_dim": 16}))
    got = default_params(cfg.search, cfg.train, "x")
    # `default =` wins; [train]'s value next (hidden_dim = 16 in [train] and searched); else TrainConfig's
    assert got == {"learning_rate": 5e-3, "hidden_dim": 16, "cell": "gru", "dropout": 0.0, "warmup_ratio": 0.01}
    assert "weight_decay" not in got  # a fixed [search] value is not a param of any trial


# ----------------------------------------------------------------- enqueued once, with workers racing

@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("defaults-race")
    r = stocktune("prep", "--config", str(write_study(root, name="prep")), "--quiet", cwd=root,
                  cache=root / "cache", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root / "cache"


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(2))
def test_three_workers_racing_on_a_new_study_enqueue_the_defaults_once(tmp_path, warm_cache, round_):
    path = write_study(tmp_path, name=f"d{round_}", n_trials=4, search=SEARCH,
                       train={"epochs": 1, "samples_per_epoch": 256}, sampler={"name": "random", "seed": 0})
    assert not (tmp_path / "study.db").exists()
    workers = Processes("worker", str(path), "--threads", "1", n=3, cwd=tmp_path, env=env(warm_cache))
    codes, log = workers.finish(300)
    assert codes == [0, 0, 0], log
    ts = trials(load_study_config(path))
    marked = [t for t in ts if t.user_attrs.get(DEFAULTS_ATTR) is True]
    assert [t.number for t in marked] == [0], log  # exactly one, and it is trial 0
    cfg = load_study_config(path)
    assert marked[0].state == TrialState.COMPLETE
    assert marked[0].params == default_params(cfg.search, cfg.train, "x")
    assert sum(t.state == TrialState.COMPLETE for t in ts) >= 4


def test_a_worker_finding_an_empty_study_waits_for_the_defaults_then_gives_up_clearly(study_dir):
    cfg = load_study_config(write_study(study_dir, search=SEARCH))
    optuna.create_study(storage=cfg.storage, study_name=cfg.name)  # created, but its creator "died"
    with pytest.raises(InputError, match="defaults trial was never enqueued"):
        load_or_create_study(cfg, with_heartbeat=False, wait=1.0)


def test_a_study_made_before_defaults_trials_is_loaded_without_waiting_or_adding_one(study_dir):
    cfg = load_study_config(write_study(study_dir, search=SEARCH))
    old = optuna.create_study(storage=cfg.storage, study_name=cfg.name)
    old.add_trial(create_trial(value=0.3, params={"learning_rate": 1e-3},
                               distributions={"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}))
    study = load_or_create_study(cfg, with_heartbeat=False, wait=0.0)
    assert len(study.get_trials()) == 1 and defaults_number(study.get_trials()) is None


# ---------------------------------------------------------- never pruned; confirmed next to the top-k

class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_the_defaults_trial_is_never_pruned_and_confirmation_retrains_it_at_its_best_epoch(study_dir, monkeypatch):
    fake = ScriptedFit()
    monkeypatch.setattr(model, "fit", fake)
    # a pruner that cuts every trial it is asked about: only the defaults trial finishes
    cfg = load_study_config(write_study(study_dir, n_trials=4, search=SEARCH, sampler={"name": "random", "seed": 3},
                                        pruner={"name": "median"}))
    with monkeypatch.context() as m:
        m.setattr(tuner.worker, "make_pruner", lambda *_: _AlwaysPrune())
        run_worker(cfg, stop=StopFlag(), worker_index=0)
    ts = trials(cfg)
    assert ts[0].user_attrs[DEFAULTS_ATTR] is True and ts[0].state == TrialState.COMPLETE
    assert all(t.state == TrialState.PRUNED for t in ts[1:]), [t.state for t in ts]

    # a search whose best is not the defaults: the top 1 and the defaults are both confirmed; the defaults'
    # best epoch (what export writes and the refit trains) is 2 of 4, so the fixed count differs from [train]
    (study_dir / "c").mkdir()
    cfg = load_study_config(write_study(study_dir / "c", name="c", n_trials=4, search=SEARCH, train={"epochs": 4},
                                        sampler={"name": "random", "seed": 3}, extra={"refit_epochs": "best"}))

    def best_at_2_for_the_defaults(dataset, tcfg, **kw):
        r = fake(dataset, tcfg, **kw)
        if tcfg.learning_rate == 5e-3 and not kw.get("keep_last"):
            r.best_epoch, r.best_metrics = 2, r.history[1]
        return r

    monkeypatch.setattr(model, "fit", best_at_2_for_the_defaults)
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    main = optuna.load_study(study_name=cfg.name, storage=cfg.storage)
    top = min((t for t in main.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert top.number != 0  # ScriptedFit: lr 3e-3 is best; the defaults' 5e-3 is not the closest of 4
    fake.calls.clear()
    run_confirmation(cfg, top_k=1, seeds=2, threads=1, stop=StopFlag())
    runs = optuna.load_study(study_name=f"{cfg.name}.confirm", storage=cfg.storage).get_trials()
    done = sorted((r.user_attrs[CONFIRM_OF_ATTR], r.user_attrs[CONFIRM_SEED_ATTR], r.user_attrs[CONFIRM_EPOCHS_ATTR])
                  for r in runs if r.state == TrialState.COMPLETE)
    best_epoch = top.user_attrs["best_epoch"]
    assert done == sorted([(0, 10_000, 2), (0, 10_001, 2), (top.number, 10_000, best_epoch),
                           (top.number, 10_001, best_epoch)])
    # every run trains exactly that many epochs, scored at its last epoch (never its best on validation)
    assert all(c["keep_last"] for c in fake.calls)
    assert sorted(c["cfg"].epochs for c in fake.calls) == sorted([2, 2, best_epoch, best_epoch])
    assert all(c["cfg"].patience == 0 for c in fake.calls)
    rows = confirmed_ranking(optuna.load_study(study_name=cfg.name, storage=cfg.storage))
    assert [(r.trial, r.defaults, r.n) for r in sorted(rows, key=lambda r: r.trial)] == [(0, True, 2), (top.number, False, 2)]
    assert [r.rank for r in rows] == [1, 2] and rows[0].mean <= rows[1].mean
    assert {r.trial: r.epochs for r in rows} == {0: 2, top.number: best_epoch}
    assert "(the defaults)" in format_status(study_status(cfg))


# -------------------------------------------------------------------------------- all trials pruned

def _all_pruned(study_dir: Path):
    cfg = load_study_config(write_study(study_dir, n_trials=3, search=SEARCH))
    study = optuna.create_study(storage=cfg.storage, study_name=cfg.name)
    dist = {"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}
    for lr in (1e-3, 2e-3, 3e-3):
        study.add_trial(create_trial(state=TrialState.PRUNED, params={"learning_rate": lr}, distributions=dist,
                                     intermediate_values={1: 0.3}, user_attrs={"epochs_run": 1, "best_epoch": 1}))
    return cfg


def test_an_all_pruned_study_is_reported_not_crashed_on(study_dir, tmp_path):
    cfg = _all_pruned(study_dir)
    s = study_status(cfg)
    assert s.best is None and s.verdict is None and s.counts["PRUNED"] == 3
    text = format_status(s)
    assert "no COMPLETE trial" in text and "verdict: none yet" in text
    assert study_verdict(cfg, optuna.load_study(study_name=cfg.name, storage=cfg.storage)) is None
    with pytest.raises(InputError, match="no COMPLETE trial"):
        export_best(cfg, tmp_path / "best.toml")
    with pytest.raises(InputError, match="3 PRUNED"):
        enqueue_confirmation(cfg, 2, 2)
    assert not (tmp_path / "best.toml").exists()
    from bench.payoff import exported  # bench/payoff.py raised IndexError here (issue 18, D)

    files = exported(cfg, tmp_path, confirmed=False)
    assert files["winner"]["file"] is None and "no COMPLETE trial" in files["winner"]["note"]
    assert files["ensemble"] is None and not (tmp_path / "winner.toml").exists()


def test_the_cli_on_an_all_pruned_study_exits_cleanly(study_dir, tuner_cache):
    cfg = _all_pruned(study_dir)
    r = stocktune("status", str(cfg.path), cwd=study_dir, env=env(tuner_cache))
    assert r.returncode == 0 and "Traceback" not in r.stderr and "no COMPLETE trial" in r.stdout, r.stderr
    for args in (("export", str(cfg.path), "--out", str(study_dir / "best.toml")), ("confirm", str(cfg.path))):
        r = stocktune(*args, cwd=study_dir, env=env(tuner_cache))
        assert r.returncode == 2 and "Traceback" not in r.stderr and "no COMPLETE trial" in r.stderr, r.stderr
