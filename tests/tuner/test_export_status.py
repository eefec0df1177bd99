"""export and status on a study built by hand: the run file, top-k, masking, clear errors."""
from __future__ import annotations

import json
import tomllib

import optuna
import pytest
from _study import stocktune, write_study
from optuna.distributions import CategoricalDistribution, FloatDistribution

from common.errors import InputError
from model.run_file import load_run_config
from tuner.export import export_best
from tuner.status import study_status
from tuner.study_config import load_study_config

DIST = {"learning_rate": FloatDistribution(1e-3, 1e-2, log=True), "cell": CategoricalDistribution(["gru", "lstm"])}


def make_study(cfg, values):
    study = optuna.create_study(study_name=cfg.name, storage=cfg.storage, direction=cfg.direction)
    for i, v in enumerate(values):
        study.add_trial(optuna.create_trial(
            params={"learning_rate": 1e-3 * (i + 1), "cell": "gru" if i % 2 else "lstm"}, distributions=DIST,
            value=v, user_attrs={"best_epoch": 2, "epochs_run": 3, "val_mae": v, "val_ic": 0.02,
                                 "dataset_cache_key": "abc"}))
    study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.FAIL, params={}, distributions={},
                                        user_attrs={"fail_reason": "NonFiniteLoss: boom"}))
    return study


def test_export_writes_a_run_file_fit_accepts(tmp_path):
    cfg = load_study_config(write_study(tmp_path, train={"epochs": 4}, search={"conv_channels": 0,
                                                                             "learning_rate": {"low": 1e-3, "high": 1e-2}}))
    make_study(cfg, [0.30, 0.25, 0.27])
    [path] = export_best(cfg, tmp_path / "best.toml").paths
    run = load_run_config(path)  # the same loader `stocktune fit --config` uses
    assert run.train.learning_rate == pytest.approx(2e-3) and run.train.cell == "gru"
    assert run.train.epochs == 4 and run.train.conv_channels == 0 and run.train.device == "auto"
    assert run.data.source == "sample" and run.data.prep.look_back == 20
    assert run.result["trial"] == 1 and run.result["value"] == pytest.approx(0.25)
    assert run.result["best_epoch"] == 2 and run.result["metrics"]["val_ic"] == pytest.approx(0.02)
    assert run.result["dataset_cache_key"] == "abc" and "exported_at" in run.result


def test_export_top_k_writes_one_file_per_rank(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    make_study(cfg, [0.30, 0.25, 0.27])
    paths = export_best(cfg, tmp_path / "best.toml", top_k=2).paths
    assert [p.name for p in paths] == ["best_1.toml", "best_2.toml"]
    values = [tomllib.loads(p.read_text())["result"]["value"] for p in paths]
    assert values == pytest.approx([0.25, 0.27])


def test_export_without_a_complete_trial_is_an_input_error(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    with pytest.raises(InputError, match="does not exist"):
        export_best(cfg, tmp_path / "best.toml")
    make_study(cfg, [])
    with pytest.raises(InputError, match="no COMPLETE trial"):
        export_best(cfg, tmp_path / "best.toml")
    assert not (tmp_path / "best.toml").exists()


def test_status_counts_and_best(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    make_study(cfg, [0.30, 0.25, 0.27])
    s = study_status(cfg)
    assert s.counts["COMPLETE"] == 3 and s.counts["FAIL"] == 1
    assert s.best.number == 1 and s.best.params["cell"] == "gru"
    assert s.failed[0].fail_reason == "NonFiniteLoss: boom"
    data = json.loads(json.dumps(s.to_json(), default=str))  # the `status --json` format
    assert data["counts"]["COMPLETE"] == 3 and data["best"]["number"] == 1 and data["best"]["params"]["cell"] == "gru"
    assert data["failed"][0]["fail_reason"] == "NonFiniteLoss: boom" and data["verdict"] is None


def test_status_and_export_cli(tmp_path):
    path = write_study(tmp_path)
    cfg = load_study_config(path)
    r = stocktune("status", str(path), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr
    make_study(cfg, [0.30, 0.25])
    r = stocktune("status", str(path), cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "best: trial 1" in r.stdout and "trials: 2 complete" in r.stdout, r.stdout + r.stderr
    r = stocktune("export", str(path), "--out", str(tmp_path / "b.toml"), "--top-k", "0", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "--top-k" in r.stderr
    r = stocktune("export", str(path), cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and (tmp_path / "runs/t/best.toml").is_file(), r.stderr


def test_export_out_an_existing_directory_exits_2_and_writes_nothing(tmp_path):
    path = write_study(tmp_path)
    make_study(load_study_config(path), [0.30, 0.25])
    (tmp_path / "out").mkdir()
    for top_k in ("1", "2"):
        r = stocktune("export", str(path), "--out", str(tmp_path / "out"), "--top-k", top_k, cwd=tmp_path, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"--out {tmp_path / 'out'} is a directory" in r.stderr, r.stderr
    (tmp_path / "afile").write_text("x")
    r = stocktune("export", str(path), "--out", str(tmp_path / "afile" / "best.toml"), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "is a file, not a directory" in r.stderr, r.stderr
    assert list((tmp_path / "out").iterdir()) == []
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_export_replaces_an_existing_file_with_a_note_on_stderr(tmp_path):
    path = write_study(tmp_path)
    cfg = load_study_config(path)
    study = make_study(cfg, [0.30, 0.25])
    out = tmp_path / "best.toml"
    r = stocktune("export", str(path), "--out", str(out), cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "replacing" not in r.stderr, r.stderr
    assert tomllib.loads(out.read_text())["result"]["trial"] == 1
    study.add_trial(optuna.create_trial(params={"learning_rate": 5e-3, "cell": "gru"}, distributions=DIST, value=0.1,
                                        user_attrs={"best_epoch": 1}))
    r = stocktune("export", str(path), "--out", str(out), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"note: replacing the existing {out}" in r.stderr, r.stderr
    assert tomllib.loads(out.read_text())["result"]["trial"] == 3
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_a_trial_that_stopped_early_exports_its_best_epoch_and_fit_final_trains_that_many(study_dir, monkeypatch,
                                                                                         tuner_cache):
    """val_mae 0.30, 0.27, 0.28, 0.29 with patience 2: the trial stops after epoch 4 of 8, best epoch 2;
    the run file carries best_epoch 2 and `fit --final` trains exactly 2 epochs."""
    import model
    from model.early_stopping import should_stop
    from tuner.signals import StopFlag
    from tuner.worker import run_worker

    curve = [0.30, 0.27, 0.28, 0.29, 0.30, 0.31, 0.32, 0.33]

    def stopping_fit(dataset, cfg, on_epoch=None, checkpoint_path=None, resume_from=None):
        from types import SimpleNamespace

        history = []
        for epoch, mae in enumerate(curve[: cfg.epochs], 1):
            history.append({"epoch": epoch, "val_mae": mae, "val_ic": 0.0, "val_skill_half": 0.0})
            on_epoch(epoch, dict(history[-1]))
            if should_stop([h["val_mae"] for h in history], cfg.patience):
                break
        best = min(history, key=lambda h: h["val_mae"])
        return SimpleNamespace(history=history, best_epoch=best["epoch"], best_metrics=best, model=None,
                               device="cpu", stopped_early=len(history) < cfg.epochs, evaluation=None)

    monkeypatch.setattr(model, "fit", stopping_fit)
    path = write_study(study_dir, n_trials=1, train={"epochs": 8, "patience": 2}, extra={"refit_epochs": "best"})
    cfg = load_study_config(path)
    run_worker(cfg, stop=StopFlag(), worker_index=0)
    [t] = optuna.load_study(study_name=cfg.name, storage=cfg.storage).get_trials()
    assert t.user_attrs["epochs_run"] == 4 and t.user_attrs["fold_stopped_early"] == [True]
    out = export_best(cfg, study_dir / "best.toml").paths[0]
    assert tomllib.loads(out.read_text())["result"]["best_epoch"] == 2
    monkeypatch.undo()
    r = stocktune("fit", "--config", str(out), "--final", "--out", str(study_dir / "final"), "--quiet",
                  cwd=study_dir, env={"STOCKTUNE_CACHE": str(tuner_cache)})
    assert r.returncode == 0, r.stderr
    extra = json.loads((study_dir / "final" / "extra.json").read_text())
    assert extra["final"] is True and extra["epochs"] == 2
