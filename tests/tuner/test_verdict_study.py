"""The verdict on a hand-built study whose trials have per-date series files and a defaults arm:
`status` (text and JSON) shows both answers, `export` writes them into [result], warns when the
winner is not better than the defaults and says what to ship; `export --defaults` ships that."""
from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import optuna
import pytest
from _study import stocktune, write_study
from optuna.distributions import FloatDistribution

from common.errors import InputError
from tuner.defaults_arm import DEFAULTS_ATTR
from tuner.export import export_best
from tuner.objective import series_path
from tuner.status import format_status, study_status
from tuner.study_config import load_study_config
from tuner.verdict import BETTER, NO_DEFAULTS, SAME
from tuner.verdict_stats import VERSION

T, LOOK_AHEAD = 300, 5
DIST = {"learning_rate": FloatDistribution(1e-4, 1e-1, log=True)}


def _overlapping(rng: np.random.Generator) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(rng.standard_normal(T + LOOK_AHEAD - 1))])
    return (c[LOOK_AHEAD:] - c[:-LOOK_AHEAD]) / math.sqrt(LOOK_AHEAD)


def build(cfg, edge: float, defaults_arm: bool = True) -> None:
    """Six COMPLETE trials; trial 0 runs the defaults (learning_rate 1e-3), trial 3 wins by value and has
    ``edge`` more skill than the defaults on every date (plus noise of its own)."""
    rng = np.random.default_rng(11)
    base = 25.0 * (1 + 0.1 * rng.standard_normal(T))
    shared = 0.02 * _overlapping(rng)
    dates = np.datetime64("2010-01-04") + np.arange(T)
    study = optuna.create_study(study_name=cfg.name, storage=cfg.storage, direction=cfg.direction)
    for i, value in enumerate([0.26, 0.27, 0.28, 0.24, 0.29, 0.30]):
        own = 0.004 * _overlapping(rng)
        x = shared + own - own.mean() + (edge if i == 3 else 0.0)
        path = series_path(cfg, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, date=dates, n=np.full(T, 100.0), err=base - x * base.mean(), base_half=base, base_mean=base,
                 ic=np.full(T, np.nan))
        attrs = {"best_epoch": 2, "epochs_run": 3, "val_mae": value, **({DEFAULTS_ATTR: True} if i == 0 and defaults_arm
                                                                       else {})}
        study.add_trial(optuna.create_trial(params={"learning_rate": 1e-3 * (i + 1)}, distributions=DIST, value=value,
                                            user_attrs=attrs))


@pytest.fixture()
def cfg_of(tmp_path):
    def make(edge: float, defaults_arm: bool = True):
        path = write_study(tmp_path, n_trials=6, data={"source": "sample", "look_back": 20, "look_ahead": LOOK_AHEAD},
                           search={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}})
        cfg = load_study_config(path)
        build(cfg, edge, defaults_arm)
        return path, cfg
    return make


def test_a_planted_edge_over_the_defaults_is_better_everywhere_it_is_shown(cfg_of, tmp_path):
    path, cfg = cfg_of(edge=0.004)
    s = study_status(cfg)
    v = s.verdict
    assert v.winner == 3 and v.defaults.defaults_trial == 0 and v.defaults.outcome == BETTER, v.defaults
    assert v.baselines.n_trials_examined == 6 and v.baselines.trial_correlation > 0.5
    text = format_status(s)
    assert "(a) vs the naive baselines" in text and "(b) vs the defaults: BETTER THAN THE DEFAULTS" in text
    r = stocktune("status", str(path), "--json", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["verdict"]["version"] == VERSION and data["verdict"]["defaults"]["outcome"] == BETTER
    assert data["verdict"]["baselines"]["n_trials_examined"] == 6 and data["best"]["number"] == 3
    result = tomllib.loads(export_best(cfg, tmp_path / "best.toml").paths[0].read_text())["result"]
    assert result["trial"] == 3 and result["verdict_defaults"].startswith(BETTER)
    assert result["verdict_baselines"].startswith(v.baselines.outcome)


def test_a_winner_no_better_than_the_defaults_warns_and_export_defaults_ships_them(cfg_of, tmp_path):
    path, cfg = cfg_of(edge=0.0)
    assert study_status(cfg).verdict.defaults.outcome == SAME
    r = stocktune("export", str(path), "--out", str(tmp_path / "best.toml"), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "WARNING" in r.stderr and SAME in r.stderr and f"stocktune export {path} --defaults" in r.stderr
    assert tomllib.loads((tmp_path / "best.toml").read_text())["result"]["trial"] == 3
    r = stocktune("export", str(path), "--defaults", "--out", str(tmp_path / "defaults.toml"), cwd=tmp_path,
                  timeout=120)
    assert r.returncode == 0 and "--defaults" not in r.stderr, r.stderr
    doc = tomllib.loads((tmp_path / "defaults.toml").read_text())
    assert doc["result"]["trial"] == 0 and doc["result"]["defaults"] is True
    assert doc["train"]["learning_rate"] == pytest.approx(1e-3)
    assert (tmp_path / "defaults.toml").read_text().startswith("# stocktune export of study 't': the defaults arm")


def test_a_study_without_a_defaults_arm_says_so_and_export_defaults_is_an_input_error(cfg_of, tmp_path):
    _, cfg = cfg_of(edge=0.004, defaults_arm=False)
    assert study_status(cfg).verdict.defaults.outcome == NO_DEFAULTS
    with pytest.raises(InputError, match="no defaults arm"):
        export_best(cfg, tmp_path / "d.toml", defaults=True)
    with pytest.raises(InputError, match="--top-k"):
        export_best(cfg, tmp_path / "d.toml", top_k=2, defaults=True)
    assert not (tmp_path / "d.toml").exists()
