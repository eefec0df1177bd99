"""The study's ``refit_epochs`` rule: what confirmation runs and the final refit train (the trial's best
epoch, or its whole [train] budget), written into the exported run file and read back by `fit --final`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tomli_w

from common.errors import InputError
from model.config import TrainConfig
from model.refit import train_config_for
from model.run_file import DataSpec, RunConfig, load_run_config
from tuner.study_config import load_study_config

BASE = {"name": "x", "n_trials": 3, "data": {"source": "sample"}, "train": {"epochs": 8},
        "search": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}}


def study(tmp_path: Path, **top) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(tomli_w.dumps({**BASE, **top}))
    return p


def test_budget_is_the_default_and_best_refits_the_best_epoch(tmp_path):
    """"budget" was measured to pay on bench/payoff.py's markets (docs/tuning.md); "best" stays a choice."""
    assert load_study_config(study(tmp_path)).refit_epochs == "budget"
    cfg = load_study_config(study(tmp_path, refit_epochs="best"))
    assert cfg.refit_epochs == "best"
    assert cfg.refit_epochs_for({"learning_rate": 1e-3}, 3) == 3
    assert cfg.refit_epochs_for({"learning_rate": 1e-3}, None) == 8  # a trial that did not finish


def test_budget_refits_the_whole_schedule(tmp_path):
    cfg = load_study_config(study(tmp_path, refit_epochs="budget"))
    assert cfg.refit_epochs_for({"learning_rate": 1e-3}, 3) == 8
    assert cfg.refit_epochs_for({"learning_rate": 1e-3}, None) == 8


def test_an_unknown_rule_is_refused_with_the_choices(tmp_path):
    with pytest.raises(InputError, match=r"refit_epochs must be one of \['best', 'budget'\].*'weekly'"):
        load_study_config(study(tmp_path, refit_epochs="weekly"))


def test_fit_final_trains_refit_epochs_before_best_epoch(tmp_path):
    spec = DataSpec("sample", load_study_config(study(tmp_path)).data.prep)
    rc = RunConfig(spec, TrainConfig(epochs=8), {"best_epoch": 3, "refit_epochs": 8})
    assert train_config_for(rc, final=True).epochs == 8
    assert train_config_for(dataclasses.replace(rc, result={"best_epoch": 3}), final=True).epochs == 3  # older files
    assert train_config_for(rc, final=True, epochs=5).epochs == 5  # the CLI's --epochs wins


def test_a_bad_refit_epochs_in_a_run_file_is_refused(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text(tomli_w.dumps({"data": {"source": "sample"}, "train": {"epochs": 8}, "result": {"refit_epochs": 0}}))
    with pytest.raises(InputError, match="refit_epochs must be a positive integer"):
        load_run_config(p)


@pytest.mark.parametrize("rule, epochs", [("best", 2), ("budget", 4)])
def test_export_writes_the_rule_s_epochs_and_fit_final_trains_them(tmp_path, rule, epochs):
    import optuna
    from optuna.distributions import FloatDistribution

    from tuner.export import export_best

    p = study(tmp_path, refit_epochs=rule, train={"epochs": 4}, storage=f"sqlite:///{tmp_path}/s.db")
    cfg = load_study_config(p)
    s = optuna.create_study(study_name=cfg.name, storage=cfg.storage)
    s.add_trial(optuna.create_trial(params={"learning_rate": 1e-3},
                                    distributions={"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)},
                                    value=0.25, user_attrs={"best_epoch": 2, "epochs_run": 4}))
    rc = load_run_config(export_best(cfg, tmp_path / "best.toml").paths[0])
    assert rc.result["refit_epochs"] == epochs and rc.best_epoch == 2
    assert train_config_for(rc, final=True).epochs == epochs


@pytest.mark.parametrize("rule, epochs", [("best", 2), ("budget", 8)])
def test_confirmation_runs_train_what_the_refit_will(tmp_path, rule, epochs):
    import optuna
    from optuna.distributions import FloatDistribution

    from tuner.confirm import _epochs

    cfg = load_study_config(study(tmp_path, refit_epochs=rule))
    t = optuna.create_trial(params={"learning_rate": 1e-3}, value=0.25, user_attrs={"best_epoch": 2},
                            distributions={"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)})
    assert _epochs(cfg, t) == epochs
    assert _epochs(cfg, None) == 8  # the defaults trial that did not finish
