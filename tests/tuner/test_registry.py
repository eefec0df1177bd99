"""Samplers and pruners declared once (tuner/registry.py): every entry validates from a study file, builds,
and shows exactly its settings in the study note; an unknown name exits 2 listing the known ones."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import tomli_w
from _study import stocktune
from test_story import _prep

from common.errors import InputError
from tuner.registry import PRUNERS, SAMPLERS, PrunerConfig, SamplerConfig
from tuner.story import study_note
from tuner.strategy import make_pruner, make_sampler
from tuner.study_config import load_study_config

BASE = {"name": "reg", "n_trials": 3, "data": {"source": "sample"}, "train": {"epochs": 4}}
# a value for every setting a sampler or pruner may read, each different from the dataclass's default,
# so that the note shows the file's value and not a default that happens to match
SETTINGS = {"sampler": {"seed": 7, "n_startup_trials": 3, "multivariate": False, "constant_liar": False},
            "pruner": {"n_startup_trials": 2, "n_warmup_steps": 1, "interval_steps": 2, "min_resource": 2,
                       "reduction_factor": 4, "max_resource": 6}}


def _study(tmp_path: Path, table: str, name: str, settings: tuple[str, ...]) -> Path:
    doc = {**BASE, table: {"name": name, **{k: SETTINGS[table][k] for k in settings}}}
    path = tmp_path / "study.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def test_every_setting_of_every_entry_is_a_config_field_with_a_test_value():
    """An entry may only read settings its config table has (else the file could never set them)."""
    for table, registry, cls in (("sampler", SAMPLERS, SamplerConfig), ("pruner", PRUNERS, PrunerConfig)):
        fields = set(cls.__dataclass_fields__) - {"name"}
        for kind in registry.values():
            assert set(kind.settings) <= fields, (table, kind.name)
            assert set(kind.settings) <= set(SETTINGS[table]), f"add a test value for {kind.name}'s settings"


@pytest.mark.parametrize("name", list(PRUNERS))
def test_every_pruner_validates_builds_and_shows_its_settings(tmp_path, name):
    kind = PRUNERS[name]
    cfg = load_study_config(_study(tmp_path, "pruner", name, kind.settings))
    assert cfg.pruner.name == name
    for folds in (1, 3):
        pruner = make_pruner(cfg, folds)
        assert isinstance(pruner, optuna.pruners.BasePruner)
        study = optuna.create_study(pruner=pruner)  # it runs on the fold x epoch step axis
        trial = study.ask()
        for step in range(1, cfg.steps_per_fold * folds + 1):
            trial.report(0.5, step)
            trial.should_prune()
        study.tell(trial, 0.5)
    line = next(x for x in study_note(cfg, _prep(tmp_path)).splitlines() if x.startswith("- **pruner**"))
    shown = ", ".join(f"{k}={SETTINGS['pruner'][k]}" for k in kind.settings)
    assert line == f"- **pruner**: `{name}`" + (f" ({shown})" if shown else "")


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_validates_builds_and_shows_its_settings(tmp_path, name):
    kind = SAMPLERS[name]
    cfg = load_study_config(_study(tmp_path, "sampler", name, kind.settings))
    sampler = make_sampler(cfg, worker_index=1)
    assert isinstance(sampler, optuna.samplers.BaseSampler)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    line = next(x for x in study_note(cfg, _prep(tmp_path)).splitlines() if x.startswith("- **sampler**"))
    shown = ", ".join(f"{k}={SETTINGS['sampler'][k]}" for k in kind.settings)
    assert line == f"- **sampler**: `{name}` ({shown})"


def test_a_pruner_default_that_depends_on_the_pruner_comes_from_its_entry():
    assert PrunerConfig(name="median").n_startup_trials == 5
    assert PrunerConfig(name="successive_halving").n_startup_trials == 0
    assert PrunerConfig(name="hyperband").n_startup_trials is None  # it reads no such setting


@pytest.mark.parametrize("table, name, setting", [("pruner", "hyperband", "n_warmup_steps"),
                                                  ("pruner", "none", "reduction_factor"),
                                                  ("sampler", "random", "n_startup_trials")])
def test_a_setting_the_named_kind_does_not_read_is_an_error(tmp_path, table, name, setting):
    path = _study(tmp_path, table, name, (setting,))
    with pytest.raises(InputError, match=rf"{setting} is not a setting of '{name}'.*\[{table}\]"):
        load_study_config(path)


@pytest.mark.parametrize("table, registry", [("sampler", SAMPLERS), ("pruner", PRUNERS)])
def test_an_unknown_name_exits_2_listing_the_known_ones(tmp_path, table, registry):
    path = tmp_path / "study.toml"
    path.write_text(tomli_w.dumps({**BASE, table: {"name": "nonesuch"}}))
    r = stocktune("worker", str(path), cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert f"name must be one of {list(registry)}, but got name='nonesuch'" in r.stderr, r.stderr
    assert f"[{table}]" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-written
