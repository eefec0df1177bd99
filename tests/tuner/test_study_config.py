"""The study file: complete validation before any work, one error per bad key (in-process and via the CLI)."""
from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
from _study import REPO, stocktune

from common.errors import InputError
from tuner.space import DEFAULT_SPACE, Choice, Fixed, FloatRange, IntRange
from tuner.study_config import PrunerConfig, load_study_config

BASE = {"name": "x", "n_trials": 3, "data": {"source": "sample"}, "train": {"epochs": 2}}


def write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(tomli_w.dumps(doc))
    return p


def merged(**changes) -> dict:
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in changes.items():
        table, _, sub = key.partition("__")
        if sub:
            doc.setdefault(table, {})[sub] = value
        else:
            doc[table] = value
    return doc


def test_shipped_studies_load():
    sample = load_study_config(REPO / "studies/sample.toml")
    assert sample.data.source == "sample" and sample.n_trials >= 20
    assert set(DEFAULT_SPACE) <= set(sample.search)
    krx = load_study_config(REPO / "studies/krx_scale.toml")
    assert krx.data.source.startswith("synthetic:tickers=2367,days=4200")
    assert krx.train["samples_per_epoch"] >= 100_000


def test_the_shipped_studies_use_the_measured_default_search_strategy():
    """bench/study.py chose successive halving with early stopping; the studies, the bare default and
    the docs must say the same thing, or a user reads one strategy and runs another."""
    default = PrunerConfig().name
    docs = (REPO / "docs/tuning.md").read_text()
    assert f'"{default}" (default' in docs
    for name in ("sample.toml", "krx_scale.toml"):
        cfg = load_study_config(REPO / "studies" / name)
        assert cfg.pruner.name == default, name
        assert cfg.train.get("patience", 0) > 0, f"{name}: early stopping off"
        assert cfg.validation.folds == "auto" or cfg.validation.folds > 1, f"{name}: one validation window"
        assert cfg.confirm is not None, f"{name}: no [confirm]"


def test_defaults(tmp_path):
    cfg = load_study_config(write(tmp_path, BASE))
    assert cfg.storage == "sqlite:///runs/x/study.db"
    assert cfg.artifacts == Path("runs/x/artifacts")
    assert cfg.direction == "minimize" and cfg.metric == "val_mae"
    assert cfg.sampler.name == "tpe" and cfg.sampler.multivariate and cfg.sampler.constant_liar
    assert cfg.pruner.name == "successive_halving"
    # the default space, with the exact Optuna param names the dashboard shows
    assert set(cfg.search) == set(DEFAULT_SPACE)
    assert cfg.search["hidden_dim"] == IntRange(16, 512, log=True)
    assert cfg.search["learning_rate"] == FloatRange(1e-5, 1e-2, log=True)


def test_search_overrides_fixes_and_train_pins(tmp_path):
    doc = merged(search={"hidden_dim": {"choices": [16, 32], "default": 32}, "conv_channels": 0,
                         "num_layers": {"low": 1, "high": 2}},
                 train={"epochs": 2, "cell": "lstm"})
    cfg = load_study_config(write(tmp_path, doc))
    assert cfg.search["hidden_dim"] == Choice((16, 32), default=32)
    assert cfg.search["conv_channels"] == Fixed(0)
    assert "cell" not in cfg.search  # fixed by [train], so not searched by default
    assert cfg.train_config({"hidden_dim": 16}).cell == "lstm"


def test_env_expansion_and_cli_override(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_PW", "s3cret")
    doc = merged(storage="postgresql+psycopg://bob:${ST_PW}@db.example:5432/st")
    cfg = load_study_config(write(tmp_path, doc))
    assert cfg.storage == "postgresql+psycopg://bob:s3cret@db.example:5432/st"
    assert cfg.storage_masked == "postgresql+psycopg://bob:***@db.example:5432/st"
    assert "s3cret" not in repr(cfg.storage_masked)
    cfg2 = load_study_config(write(tmp_path, doc), storage="sqlite:///other.db", n_trials=7)
    assert cfg2.storage == "sqlite:///other.db" and cfg2.n_trials == 7
    monkeypatch.delenv("ST_PW")
    with pytest.raises(InputError, match=r"ST_PW"):
        load_study_config(write(tmp_path, doc))


BAD = [
    # (changes, words the message must contain)
    ({"bogus": 1}, ["'bogus'"]),
    ({"extra": {"a": 1}}, ["[extra]"]),
    ({"n_trials": 0}, ["n_trials", "positive"]),
    ({"n_trials": "ten"}, ["n_trials"]),
    ({"direction": "down"}, ["direction"]),
    ({"storage": "mysql://u:pw@h/db"}, ["storage", "mysql"]),
    ({"storage": "not a url"}, ["storage"]),
    ({"storage": "sqlite://"}, ["storage", "SQLite file"]),
    ({"train__hiddn_dim": 3}, ["'hiddn_dim'", "[train]"]),
    ({"train__epochs": "3"}, ["epochs"]),
    ({"search__learning_rate": {"low": 1e-2, "high": 1e-3}}, ["learning_rate", "low < high"]),
    ({"search__learning_rate": {"low": 0.0, "high": 1e-3, "log": True}}, ["learning_rate", "log"]),
    ({"search__num_layers": {"low": 2, "high": 2}}, ["num_layers", "low < high"]),
    ({"search__num_layers": {"low": 1.5, "high": 3}}, ["num_layers", "integer"]),
    ({"search__hidden_dim": {"choices": []}}, ["hidden_dim", "non-empty"]),
    ({"search__not_a_field": {"low": 1, "high": 2}}, ["'not_a_field'", "[search]"]),
    ({"search__dropout": {"low": 0.0, "high": 1.5}}, ["dropout", "[search]"]),
    ({"search__cell": {"choices": ["gru", "rnn"]}}, ["cell"]),
    ({"search__lr": {"low": 1, "hgh": 2}}, ["'lr'"]),
    ({"search__dropout": {"low": 0.0, "hgh": 0.5}}, ["'hgh'", "dropout"]),
    ({"sampler__name": "bayes"}, ["name", "bayes", "[sampler]"]),
    ({"pruner__name": "patience"}, ["name", "patience", "[pruner]"]),
    ({"heartbeat__grace_period": 5, "heartbeat__interval": 10}, ["grace_period"]),
    ({"worker__n_workers": 0}, ["n_workers", "[worker]"]),
    ({"data__look_ahead": 0}, ["look_ahead", "[data]"]),
    ({"data": {"look_back": 10}}, ["source"]),
    # the defaults trial's value of a searched key must be one the search can sample
    ({"search__learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "default": 0.5}},
     ["learning_rate.default", "[1e-4, 0.01]".replace("1e-4", "0.0001"), "[search]"]),
    ({"search__hidden_dim": {"choices": [16, 32]}}, ["hidden_dim", "TrainConfig's default 64", "default =", "[search]"]),
    ({"search__hidden_dim": {"choices": [16, 32], "default": 24}}, ["hidden_dim.default", "[16, 32]", "[search]"]),
    ({"search__num_layers": {"low": 1, "high": 4, "default": 2.5}}, ["num_layers.default", "[search]"]),
    ({"search__dropout": {"low": 0.0, "high": 0.4, "step": 0.1, "default": 0.15}}, ["dropout.default", "steps of 0.1"]),
    ({"search__cell": {"choices": ["gru", "lstm"], "default": "rnn"}}, ["cell.default", "[search]"]),
    ({"train__hidden_dim": 128, "search__hidden_dim": {"choices": [16, 32]}}, ["hidden_dim", "[train] value 128"]),
]


@pytest.mark.parametrize("changes,words", BAD, ids=[next(iter(c)) + f"-{i}" for i, (c, _) in enumerate(BAD)])
def test_invalid_study_raises_naming_key(tmp_path, changes, words):
    path = write(tmp_path, merged(**changes))
    with pytest.raises(InputError) as e:
        load_study_config(path)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    assert str(path) in msg or "--" in msg, msg


CLI_BAD = [BAD[i] for i in (0, 2, 5, 8, 10, 11, 15, 20, 21, 23)]


@pytest.mark.parametrize("changes,words", CLI_BAD, ids=[next(iter(c)) for c, _ in CLI_BAD])
def test_cli_exits_2_naming_key(tmp_path, changes, words):
    path = write(tmp_path, merged(**changes))
    r = stocktune("worker", str(path), cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert words[0] in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-done


def test_cli_password_masked_in_errors(tmp_path):
    doc = merged(storage="postgresql+psycopg://bob:hunter2@127.0.0.1:1/db", n_trials=0)
    r = stocktune("worker", str(write(tmp_path, doc)), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "hunter2" not in r.stdout + r.stderr
    r = stocktune("status", str(write(tmp_path, merged(storage="mysql://bob:hunter2@h/db"))), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "hunter2" not in r.stdout + r.stderr and "***" in r.stderr, r.stderr


@pytest.mark.parametrize("folds, first", [(1, 1), (3, 3)])
def test_successive_halving_first_cuts_after_a_tenth_of_the_trial(tmp_path, folds, first):
    """The rung schedule measured on one fold (first cut after 1 of 10 epochs) keeps its proportion on
    several folds, instead of cutting after the first epoch of fold 1."""
    import optuna

    from tuner.strategy import make_pruner

    cfg = load_study_config(write(tmp_path, {**BASE, "train": {"epochs": 10}}))
    study = optuna.create_study(pruner=make_pruner(cfg, folds))
    for value in (0.1, 0.2):  # two finished trials that were good at every step
        done = study.ask()
        for step in range(1, 10 * folds + 1):
            done.report(value, step)
            done.should_prune()  # records the trial's value at each rung it passes
        study.tell(done, value)
    bad = study.ask()
    pruned_at = None
    for step in range(1, 10 * folds + 1):
        bad.report(9.0, step)
        if bad.should_prune():
            pruned_at = step
            break
    assert pruned_at == first


def test_successive_halving_prunes_nothing_until_its_startup_trials_are_complete(tmp_path):
    import optuna

    from tuner.strategy import make_pruner

    doc = {**BASE, "train": {"epochs": 10}, "pruner": {"name": "successive_halving", "n_startup_trials": 2}}
    study = optuna.create_study(pruner=make_pruner(load_study_config(write(tmp_path, doc)), 1))

    def bad_trial_prunes() -> bool:
        t = study.ask()
        for step in range(1, 11):
            t.report(9.0 if t.number else 0.1, step)
            if t.should_prune():
                study.tell(t, state=optuna.trial.TrialState.PRUNED)
                return True
        study.tell(t, 9.0 if t.number else 0.1)
        return False

    assert [bad_trial_prunes() for _ in range(3)] == [False, False, True]
