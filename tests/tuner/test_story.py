"""The study's story (tuner/story.py): notes and artifacts, idempotent across racing workers.

Fast tests on a SQLite study with a fake prepared dataset and fake fit results; the end-to-end view
in the browser is tests/tuner/test_dashboard_browser.py.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta
from optuna_dashboard import get_note

from data_prep.pipeline import PrepResult
from tuner import story
from tuner.optuna_adapter import read_note, storage_of, study_id_of, trial_id_of
from tuner.storage import open_storage
from tuner.study_config import load_study_config

optuna.logging.set_verbosity(optuna.logging.WARNING)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass
class FakeFit:
    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    device: str = "cpu"


def _prep(tmp_path: Path) -> PrepResult:
    """A prepared dataset's report files (meta.json, report.json, PNGs) without its arrays."""
    d = tmp_path / "dataset"
    d.mkdir()
    splits = {
        "train": {"start": "2001-01-02", "end": "2009-06-30", "n_windows": 9000, "n_tickers": 5,
                  "target_ks_stat": 0.0123, "target_ks_p": 0.41},
        "val": {"start": "2009-07-14", "end": "2011-08-01", "n_windows": 2000, "n_tickers": 5,
                "target_ks_stat": 0.0456, "target_ks_p": 0.002},
        "test": {"start": "2011-08-15", "end": "2013-12-31", "n_windows": 2100, "n_tickers": 5,
                 "target_ks_stat": 0.0789, "target_ks_p": 1e-5},
    }
    report = {"source": "sample", "cache_key": "abc123", "target_method": "ecdf", "purge_gap_days": 7,
              "splits": splits}
    meta = {"source": "sample", "cache_key": "abc123", "tickers": ["AAPL", "GOOG", "IBM", "MSFT", "FB"],
            "look_back": 20, "look_ahead": 5, "target_method": "ecdf", "purge_gap_days": 7,
            "prep": {"look_back": 20, "look_ahead": 5, "embargo": 2}, "splits": splits}
    (d / "meta.json").write_text(json.dumps(meta))
    (d / "report.json").write_text(json.dumps(report))
    for name in ("target_hist.png", "target_qq.png", "volatility_hist.png"):
        (d / name).write_bytes(PNG + name.encode())
    return PrepResult(d, report, True)


STUDY_TOML = """
name = "storytest"
n_trials = 7
[data]
source = "sample"
look_back = 20
look_ahead = 5
embargo = 2
[train]
epochs = 3
[search]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
cell = { choices = ["gru", "lstm"] }
num_layers = 2
[sampler]
name = "tpe"
seed = 1
[pruner]
name = "median"
n_warmup_steps = 2
"""


@pytest.fixture()
def setup(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    (tmp_path / "study.toml").write_text(f'storage = "{url}"\n' + STUDY_TOML)
    cfg = load_study_config(tmp_path / "study.toml")
    study = optuna.create_study(storage=open_storage(url, None), study_name="storytest")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    return study, FileSystemArtifactStore(str(store_dir)), _prep(tmp_path), url, cfg


def test_study_note_tells_data_splits_target_and_search(setup):
    study, store, prep, _, cfg = setup
    story.on_study_ready(study, cfg, prep, store)
    note = get_note(study)
    for text in ("`sample`", "`AAPL`", "`FB`", "2009-07-14", "2011-08-01", "purge gap**: 7", "embargo 2",
                 "`ecdf`", "0.0456", "`learning_rate`", "log scale", "`gru`", "`tpe`", "`median`",
                 "n_warmup_steps=2", "7 trials", "`num_layers` | fixed at `2`", "epochs=3"):
        assert text in note, f"{text!r} missing from the study note:\n{note}"
    names = sorted(a.filename for a in get_all_artifact_meta(study))
    assert names == ["target_hist.png", "target_qq.png", "volatility_hist.png"]


def test_artifacts_download_byte_for_byte(setup, tmp_path):
    study, store, prep, _, cfg = setup
    story.on_study_ready(study, cfg, prep, store)
    meta = next(a for a in get_all_artifact_meta(study) if a.filename == "target_qq.png")
    assert meta.mimetype == "image/png"
    out = tmp_path / "qq.png"
    download_artifact(artifact_store=store, file_path=str(out), artifact_id=meta.artifact_id)
    assert out.read_bytes() == (prep.path / "target_qq.png").read_bytes()


def test_study_ready_is_idempotent_and_race_safe(setup):
    """Eight workers starting at once, each with its own storage connection, leave one set of
    artifacts and one note version."""
    study, store, prep, url, cfg = setup
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            s = optuna.load_study(storage=open_storage(url, None), study_name="storytest")
            story.on_study_ready(s, cfg, prep, store)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    story.on_study_ready(study, cfg, prep, store)  # and once more, later
    assert not errors
    assert len(get_all_artifact_meta(study)) == 3
    assert len(list((prep.path.parent / "store").iterdir())) == 3
    attrs = storage_of(study).get_study_system_attrs(study_id_of(study))
    assert attrs[story.STORY_ATTR] == "abc123"
    assert "`ecdf`" in get_note(study)


def _run_trial(study, value: float) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    study.tell(trial, value)
    return storage_of(study).get_trial(trial_id_of(trial))


def _fit(mae: float) -> FakeFit:
    m = {"val_mae": mae, "val_ic": 0.031, "val_dir_acc": 0.532, "val_skill_half": 0.012,
         "val_skill_mean": 0.004, "samples_per_s": 12345.0, "rss_mb": 812.0}
    return FakeFit(best_epoch=2, best_metrics=m,
                   history=[{"epoch": 1, "rss_mb": 700.0}, {"epoch": 2, "rss_mb": 900.0}, {"epoch": 3, "rss_mb": 850.0}])


def test_trial_note_and_best_checkpoint(setup, tmp_path):
    study, store, prep, _, cfg = setup
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"weights-v1")

    t0 = _run_trial(study, 0.25)
    story.on_trial_complete(study, t0, [_fit(0.25)], store, ckpt)
    note = read_note(storage_of(study), study_id_of(study), trial_id_of(t0))["body"]
    for text in ("best epoch 2 of 3", "validation MAE | 0.25000", "+0.0310", "53.20%", "+1.20%",
                 "12,345", "peak RSS, all epochs (MB) | 900", "trial0_best.pt"):
        assert text in note, f"{text!r} missing from the trial note:\n{note}"
    assert [a.filename for a in get_all_artifact_meta(study)] == ["trial0_best.pt"]

    ckpt.write_bytes(b"weights-v2")
    t1 = _run_trial(study, 0.30)  # worse: no upload
    story.on_trial_complete(study, t1, [_fit(0.30)], store, ckpt)
    assert [a.filename for a in get_all_artifact_meta(study)] == ["trial0_best.pt"]

    ckpt.write_bytes(b"weights-v3")
    t2 = _run_trial(study, 0.20)  # new best: uploaded, recorded
    story.on_trial_complete(study, t2, [_fit(0.20)], store, ckpt)
    story.on_trial_complete(study, t2, [_fit(0.20)], store, ckpt)  # repeated: no second copy
    assert sorted(a.filename for a in get_all_artifact_meta(study)) == ["trial0_best.pt", "trial2_best.pt"]
    best = storage_of(study).get_study_system_attrs(study_id_of(study))[story.BEST_CHECKPOINT_ATTR]
    assert best["trial"] == 2 and best["value"] == pytest.approx(0.20)
    out = tmp_path / "best.pt"
    download_artifact(artifact_store=store, file_path=str(out), artifact_id=best["artifact_id"])
    assert out.read_bytes() == b"weights-v3"


def test_hook_failure_never_raises(setup, caplog):
    """A broken artifact store (full disk, unmounted share) costs the story, not the trial."""
    study, _, prep, _, cfg = setup

    class Broken:
        def write(self, *_a: Any) -> None:
            raise PermissionError("read-only share")

    story.on_study_ready(study, cfg, prep, Broken())
    assert "failed; the study goes on" in caplog.text


def test_study_note_shows_both_answers_of_the_verdict(setup):
    from model.selection import DateSeries
    from tuner.verdict_stats import BETTER, Verdict, answer_baselines, answer_defaults

    _, _, prep, _, cfg = setup
    rng = np.random.default_rng(0)
    base = np.full(200, 25.0)
    dates = np.datetime64("2010-01-04") + np.arange(200)

    def series(x):
        return DateSeries(dates, np.full(200, 100.0), base - x * 25.0, base, base, np.full(200, np.nan))

    defaults = series(0.01 * rng.standard_normal(200))
    winner = series(0.01 * rng.standard_normal(200) * 0.1 + (base - defaults.err) / 25.0 + 0.01)
    a = answer_baselines(winner, [winner, defaults], 4, 5)
    v = Verdict(3, "confirmation runs", True, 200, a,
                answer_defaults(winner, defaults, 4, 5, defaults_trial=0, defaults_from="confirmation runs",
                                winner_beats=a.beats), "M")
    assert v.defaults.outcome == BETTER
    note = story.study_note(cfg, prep, verdict=v)
    for text in ("## Verdict on the winner", "verdict on trial 3 (from confirmation runs)",
                 "(a) vs the naive baselines:", "(b) vs the defaults: BETTER THAN THE DEFAULTS", "Method: M."):
        assert text in note, f"{text!r} missing from the study note:\n{note}"
