"""An ensemble model directory (issue 18, Build 5): `fit --final` trains every member of an ensemble run
file into one directory, `evaluate` and `predict` average the members, and a member whose dataset or
config does not match the manifest exits 2 naming the member and the file. A single-model run file
keeps working unchanged (tests/cli/test_model_commands.py, tests/tuner/test_final_workflow.py).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_run import stocktune

MEMBER = """
[[members]]
name = "{name}"
trial = {trial}
seed = {seed}
epochs = {epochs}

[members.train]
cell = "{cell}"
hidden_dim = {hidden}
num_layers = 1
epochs = 5
samples_per_epoch = 256
batch_size = 64
eval_batch_size = 512
device = "cpu"
threads = 1
seed = {seed}
"""
ENSEMBLE = """\
[data]
source = "synthetic:tickers=6,days=320,seed=3"
look_back = 10
look_ahead = 2

[result]
study = "tiny"
verdict_baselines = "beats the naive baselines beyond selection noise (z = 2.40)"
verdict_defaults = "not distinguishable from the defaults (paired z = 0.31)"
""" + "".join(MEMBER.format(name=f"trial{t}-seed{s}", trial=t, seed=s, epochs=e, cell=c, hidden=h)
              for t, s, e, c, h in ((3, 10000, 2, "gru", 8), (3, 10001, 2, "gru", 8), (7, 10000, 1, "lstm", 6)))
NAMES = ["trial3-seed10000", "trial3-seed10001", "trial7-seed10000"]


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, cache) -> Path:
    root = tmp_path_factory.mktemp("ensemble")
    (root / "ensemble.toml").write_text(ENSEMBLE)
    r = stocktune("fit", "--config", str(root / "ensemble.toml"), "--final", "--out", str(root / "model"),
                  "--threads", "1", cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(f"member {i}/3 {n}" in r.stderr for i, n in enumerate(NAMES, 1)), r.stderr  # progress per member
    return root / "model"


def test_fit_final_writes_every_member_and_the_manifest(ensemble_dir):
    manifest = json.loads((ensemble_dir / "ensemble.json").read_text())
    assert [m["name"] for m in manifest["members"]] == NAMES
    assert [(m["trial"], m["seed"], m["epochs"]) for m in manifest["members"]] == [(3, 10000, 2), (3, 10001, 2),
                                                                                  (7, 10000, 1)]
    meta = json.loads((ensemble_dir / "dataset_meta.json").read_text())
    assert manifest["cache_key"] == meta["cache_key"]
    for name, (cell, seed, epochs) in zip(NAMES, (("gru", 10000, 2), ("gru", 10001, 2), ("lstm", 10000, 1))):
        cfg = json.loads((ensemble_dir / "members" / name / "config.json").read_text())
        assert (cfg["cell"], cfg["seed"], cfg["epochs"]) == (cell, seed, epochs)
        assert cfg["train_splits"] == ["train", "val"] and "eval_split" not in cfg
    assert not (ensemble_dir / "model.pt").exists()


def test_predict_and_evaluate_average_the_members(ensemble_dir, cache, tmp_path):
    import data_prep
    from model import load_model
    from model.inference import predict

    r = stocktune("predict", str(ensemble_dir), "--data", "synthetic:tickers=6,days=320,seed=3", "--format", "json",
                  "--threads", "1", cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["n_scored"] == len(doc["predictions"]) >= 3
    # the ensemble's probability is the mean of its members' (each member directory loads on its own)
    meta = json.loads((ensemble_dir / "dataset_meta.json").read_text())
    ds = data_prep.featurize_for_inference("synthetic:tickers=6,days=320,seed=3", meta)
    rows, _ = data_prep.prediction_rows(ds, np.datetime64(doc["date"]))
    members = [predict(load_model(ensemble_dir / "members" / n).net, ds, rows) for n in NAMES]
    mean = dict(zip((ds.tickers[int(ds.ticker[i])] for i in rows), np.mean(members, axis=0)))
    assert not np.allclose(members[0], members[2])  # the members differ, so the mean is a real test
    for p in doc["predictions"]:
        assert p["probability"] == pytest.approx(float(mean[p["ticker"]]), abs=1e-6)

    r = stocktune("evaluate", str(ensemble_dir), "--controls", "1", "--no-plots", "--threads", "1",
                  "--out", str(tmp_path / "ev"), cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert [m["name"] for m in ev["ensemble"]] == NAMES and ev["model"]["n_windows"] > 0
    assert ev["control"]["n_controls"] == 1 and ev["verdicts"][0].startswith("beats the naive")
    assert "Ensemble of 3 members" in r.stdout
    assert "Study verdict: not distinguishable from the defaults" in r.stdout


def _copy(ensemble_dir: Path, tmp_path: Path) -> Path:
    bad = tmp_path / "bad"
    shutil.copytree(ensemble_dir, bad)
    return bad


@pytest.mark.parametrize("what", ["dataset", "config"])
def test_a_member_that_does_not_match_exits_2_naming_member_and_file(ensemble_dir, cache, tmp_path, what):
    bad = _copy(ensemble_dir, tmp_path)
    member = bad / "members" / NAMES[1]
    if what == "dataset":  # a member trained on other data (e.g. copied from another model directory)
        meta = json.loads((member / "dataset_meta.json").read_text())
        (member / "dataset_meta.json").write_text(json.dumps({**meta, "cache_key": "0" * 64}))
        file = member / "dataset_meta.json"
    else:  # a member whose config was edited after training
        cfg = json.loads((member / "config.json").read_text())
        (member / "config.json").write_text(json.dumps({**cfg, "hidden_dim": 16}))
        file = member / "config.json"
    for command in (["evaluate", str(bad), "--controls", "1", "--no-plots"],
                    ["predict", str(bad), "--data", "synthetic:tickers=6,days=320,seed=3"]):
        r = stocktune(*command, cache=cache, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"member {NAMES[1]}" in r.stderr and str(file) in r.stderr, r.stderr
    assert not (bad / "evaluation.json").exists()


def test_an_ensemble_run_file_needs_final_and_out(tmp_path, cache):
    (tmp_path / "e.toml").write_text(ENSEMBLE)
    r = stocktune("fit", "--config", str(tmp_path / "e.toml"), cache=cache, timeout=120)
    assert r.returncode == 2 and "--final --out DIR" in r.stderr, r.stderr
    (tmp_path / "both.toml").write_text(ENSEMBLE + "\n[train]\nepochs = 2\n")
    r = stocktune("fit", "--config", str(tmp_path / "both.toml"), "--final", "--out", str(tmp_path / "m"),
                  cache=cache, timeout=120)
    assert r.returncode == 2 and "[[members]]" in r.stderr and not (tmp_path / "m").exists(), r.stderr
