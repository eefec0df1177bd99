"""`stocktune fit` through a subprocess, and the trainer on a real prepared sample."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import stocktune

RUN = """\
[data]
source = "sample"
look_back = 20

[train]
hidden_dim = 8
num_layers = 1
epochs = 3
samples_per_epoch = 512
batch_size = 128
val_samples = 500
device = "cpu"
threads = 1
{extra}
[result]
best_epoch = 2
trial = 4
study = "exported"
val_mae = 0.26
cache_key = "whatever"
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fit_cache")


def fit(*args: str, cache: Path):
    return stocktune("fit", *args, cache=cache)


def test_fit_trains_prints_the_table_and_saves_the_best_epoch(tmp_path, cache):
    (tmp_path / "run.toml").write_text(RUN.format(extra=""))
    p = fit("--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "m"),
                  "--checkpoint", str(tmp_path / "ck.pt"), cache=cache)
    assert p.returncode == 0, p.stderr
    assert "val_mae" in p.stdout and "best epoch:" in p.stdout
    rows = [line.split() for line in p.stdout.splitlines() if line.split() and line.split()[0] in "123"]
    assert [r[0] for r in rows[:3]] == ["1", "2", "3"]
    assert "epoch" in p.stderr  # the progress bar
    extra = json.loads((tmp_path / "m" / "extra.json").read_text())
    assert extra["final"] is False and 1 <= extra["best_epoch"] <= 3 and Path(extra["dataset_dir"]).is_dir()
    assert extra["result"]["trial"] == 4
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["epoch"] == 3


def test_fit_final_refits_on_train_and_val_for_best_epoch_epochs(tmp_path, cache):
    (tmp_path / "best.toml").write_text(RUN.format(extra=""))
    p = fit("--config", str(tmp_path / "best.toml"), "--final", "--out", str(tmp_path / "final"),
                  "--quiet", cache=cache)
    assert p.returncode == 0, p.stderr
    extra = json.loads((tmp_path / "final" / "extra.json").read_text())
    assert extra["final"] is True and extra["epochs"] == 2 and "val_mae" not in extra["best_metrics"]
    cfg = json.loads((tmp_path / "final" / "config.json").read_text())
    assert cfg["train_splits"] == ["train", "val"] and "eval_split" not in cfg
    meta = json.loads((tmp_path / "final" / "dataset_meta.json").read_text())
    assert meta["cache_key"] == extra["cache_key"] and meta["look_back"] == 20


@pytest.mark.parametrize("extra, key", [("hiden_dim = 4", "hiden_dim"), ("dropout = 1.5", "dropout"),
                                        ('cell = "rnn"', "cell must be one of ['gru', 'lstm'], but got cell='rnn'")])
def test_a_bad_key_exits_2_naming_it_and_writes_nothing(tmp_path, cache, extra, key):
    (tmp_path / "bad.toml").write_text(RUN.format(extra=extra))
    p = fit("--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "m"), cache=cache)
    assert p.returncode == 2
    assert key in p.stderr and "bad.toml" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "m").exists()


def test_a_bad_best_epoch_exits_2(tmp_path, cache):
    (tmp_path / "r.toml").write_text(RUN.format(extra="").replace("best_epoch = 2", "best_epoch = 0"))
    p = fit("--config", str(tmp_path / "r.toml"), "--final", "--out", str(tmp_path / "m"), cache=cache)
    assert p.returncode == 2 and "best_epoch" in p.stderr and not (tmp_path / "m").exists()


def test_trainer_on_the_real_prepared_sample(tmp_path_factory):
    from _harness import tiny_cfg

    from data_prep import prepare
    from data_prep.config import PrepConfig
    from model import fit

    ds = prepare("sample", PrepConfig(), tmp_path_factory.mktemp("sample_cache")).dataset()
    assert ds.look_back == 60 and ds.n_features > 1
    res = fit(ds, tiny_cfg(epochs=2, samples_per_epoch=512, batch_size=128, val_samples=1000))
    last = res.history[-1]
    assert np.isfinite([last["val_mae"], last["val_ic"], last["train_loss"]]).all()
    # the sample's targets are uniformized: always-0.5 scores about 0.25
    assert 0.2 < last["baseline_mae_half"] < 0.3


def test_fit_prepares_the_data_before_its_progress_bar_starts(tmp_path):
    """issue 20: prep's lines used to land on the bar (`fit:   0%|...|prep: key done`)."""
    (tmp_path / "run.toml").write_text(RUN.format(extra="").replace("epochs = 3", "epochs = 1"))
    p = fit("--config", str(tmp_path / "run.toml"), cache=tmp_path / "fresh_cache")  # a fresh cache: prep prints
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("prep:"), p.stderr[:300]
    assert p.stderr.index("fit:") > p.stderr.index("prep: dataset at"), p.stderr[:600]
    assert "|prep:" not in p.stderr


def test_fit_final_copies_the_verdict_lines_and_refuses_a_verdict_that_is_not_text(tmp_path, cache):
    run = RUN.format(extra="") + 'verdict_defaults = "not distinguishable from the defaults (paired z = 0.4)"\n'
    (tmp_path / "v.toml").write_text(run)
    p = fit("--config", str(tmp_path / "v.toml"), "--final", "--out", str(tmp_path / "m"), "--quiet", cache=cache)
    assert p.returncode == 0, p.stderr
    extra = json.loads((tmp_path / "m" / "extra.json").read_text())
    assert extra["verdict_defaults"].startswith("not distinguishable") and "verdict_baselines" not in extra
    (tmp_path / "bad.toml").write_text(RUN.format(extra="") + "verdict_baselines = 3\n")
    p = fit("--config", str(tmp_path / "bad.toml"), "--final", "--out", str(tmp_path / "m2"), cache=cache)
    assert p.returncode == 2 and "verdict_baselines" in p.stderr and "bad.toml" in p.stderr, p.stderr
    assert not (tmp_path / "m2").exists()
