"""`stocktune export --ensemble` on a study built by hand: members = the confirmed configurations x their
confirmation seeds, each for its trial's best epoch, in a run file `fit --config` reads."""
from __future__ import annotations

import optuna
import pytest
from _study import stocktune, write_study
from optuna.distributions import CategoricalDistribution, FloatDistribution

from common.errors import InputError
from model.refit import member_configs
from model.run_file import load_run_config
from tuner.confirm import CONFIRMATION_ATTR, SEED_BASE
from tuner.export_ensemble import export_ensemble
from tuner.study_config import load_study_config

DIST = {"learning_rate": FloatDistribution(1e-3, 1e-2, log=True), "cell": CategoricalDistribution(["gru", "lstm"])}


def make_confirmed_study(cfg, confirmed: bool = True) -> optuna.Study:
    """Trials 0-2 (best epochs 2, 3, 4), trials 2 and 0 confirmed with 3 and 2 seeds, in that order."""
    study = optuna.create_study(study_name=cfg.name, storage=cfg.storage, direction=cfg.direction)
    for i, v in enumerate((0.30, 0.25, 0.27)):
        study.add_trial(optuna.create_trial(
            params={"learning_rate": 1e-3 * (i + 1), "cell": "gru" if i % 2 else "lstm"}, distributions=DIST,
            value=v, user_attrs={"best_epoch": 2 + i, "epochs_run": 5, "dataset_cache_key": "abc"}))
    if confirmed:
        rows = [{"trial": 2, "params": {}, "original": 0.27, "values": [0.24, 0.25, 0.26], "n": 3, "mean": 0.25,
                 "se": 0.005, "rank": 1},
                {"trial": 0, "params": {}, "original": 0.30, "values": [0.26, 0.27], "n": 2, "mean": 0.265,
                 "se": 0.005, "rank": 2}]
        study.set_user_attr(CONFIRMATION_ATTR, rows)
    return study


def test_members_train_what_the_study_s_refit_rule_gives_their_trial(tmp_path):
    """The default "budget": every member its [train] epochs; "best": each its trial's best epoch."""
    cfg = load_study_config(write_study(tmp_path, train={"epochs": 6}))
    make_confirmed_study(cfg)
    rc = load_run_config(export_ensemble(cfg, tmp_path / "ensemble.toml"))
    assert [m.epochs for m in rc.members] == [6] * 5


def test_the_ensemble_run_file_lists_the_confirmed_configurations_x_their_seeds(tmp_path):
    cfg = load_study_config(write_study(tmp_path, train={"epochs": 6}, extra={"refit_epochs": "best"}))
    make_confirmed_study(cfg)
    rc = load_run_config(export_ensemble(cfg, tmp_path / "ensemble.toml"))  # the loader `fit --config` uses
    assert [(m.trial, m.seed, m.epochs) for m in rc.members] == [
        (2, SEED_BASE, 4), (2, SEED_BASE + 1, 4), (2, SEED_BASE + 2, 4), (0, SEED_BASE, 2), (0, SEED_BASE + 1, 2)]
    assert [m.name for m in rc.members][:2] == [f"trial2-seed{SEED_BASE}", f"trial2-seed{SEED_BASE + 1}"]
    assert {m.train.cell for m in rc.members if m.trial == 2} == {"lstm"}
    assert [m.train.learning_rate for m in rc.members if m.trial == 0] == pytest.approx([1e-3, 1e-3])
    assert [m.train.seed for m in rc.members] == [m.seed for m in rc.members]
    # each member's final refit trains its trial's best epoch on train + val
    assert [(c.epochs, c.train_splits, c.seed) for _, c in member_configs(rc)][3] == (2, ("train", "val"), SEED_BASE)
    assert rc.result["ensemble_trials"] == [2, 0] and rc.result["n_members"] == 5
    assert rc.data.source == "sample"
    top1 = load_run_config(export_ensemble(cfg, tmp_path / "top1.toml", top_k=1))
    assert [m.trial for m in top1.members] == [2, 2, 2]


def test_an_unconfirmed_study_is_an_input_error_and_the_cli_exits_2(tmp_path):
    path = write_study(tmp_path)
    cfg = load_study_config(path)
    make_confirmed_study(cfg, confirmed=False)
    with pytest.raises(InputError, match="stocktune confirm"):
        export_ensemble(cfg, tmp_path / "e.toml")
    r = stocktune("export", str(path), "--ensemble", "--out", str(tmp_path / "e.toml"), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "no confirmed ranking" in r.stderr and not (tmp_path / "e.toml").exists(), r.stderr
