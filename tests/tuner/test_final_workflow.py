"""From the best config to a model in use, through the CLI: fit --final -> evaluate -> predict.

Everything runs as a subprocess of `python -m cli` on the real sample data with a tiny model
(hidden 16, 2 epochs, a few thousand samples per epoch), sharing one prepared-dataset cache and
one trained model directory per module to stay within the test budget.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_run import ROOT, stocktune

RUN_TOML = """\
[data]
source = "sample"
look_back = 20
look_ahead = 5

[train]
hidden_dim = 16
num_layers = 1
epochs = 3
samples_per_epoch = 4000
batch_size = 256
eval_batch_size = 4096
device = "cpu"
threads = 1
seed = 0

[result]
best_epoch = 2
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("final")


@pytest.fixture(scope="module")
def cache_env(tuner_cache) -> dict:
    """The tuner tests' session-wide dataset cache: the sample is prepared once for all of them."""
    return {"STOCKTUNE_CACHE": str(tuner_cache), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model_dir(workdir, cache_env) -> Path:
    """`stocktune fit --config run.toml --final --out MODEL_DIR` on the sample data."""
    (workdir / "best.toml").write_text(RUN_TOML)
    out = workdir / "model"
    p = stocktune("fit", "--config", str(workdir / "best.toml"), "--final", "--out", str(out), env=cache_env)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def evaluated(model_dir, cache_env) :
    p = stocktune("evaluate", str(model_dir), env=cache_env)
    assert p.returncode == 0, p.stderr
    return p


# ---------------------------------------------------------------- the test period is never read by tuning
def test_prep_report_puts_the_test_period_after_val_plus_the_purge_gap(workdir, cache_env):
    from data_prep import prepare
    from data_prep.config import PrepConfig

    res = prepare("sample", PrepConfig(look_back=20, look_ahead=5), Path(cache_env["STOCKTUNE_CACHE"]))
    rep = res.report
    val_end = np.datetime64(rep.splits["val"].end)
    test_start = np.datetime64(rep.splits["test"].start)
    trading = np.unique(np.asarray(res.dataset().date, "datetime64[D]"))
    between = int(((trading > val_end) & (trading < test_start)).sum())
    assert val_end < test_start
    assert between >= rep.purge_gap_days >= 5


# ---------------------------------------------------------------- evaluate
def test_evaluate_scores_the_test_period_and_the_control(model_dir, evaluated):
    ev = json.loads((model_dir / "evaluation.json").read_text())
    assert ev["split"] == "test" and ev["train_splits"] == ["train", "val"]
    periods = ev["periods"]
    assert periods["val"]["end"] < periods["test"]["start"]
    assert periods["val_test_gap_trading_days"] >= periods["required_gap_days"]
    for run in ("model", "control"):
        r = ev[run]
        assert r["n_windows"] == periods["test"]["n_windows"] > 100
        for key in ("mae", "rmse", "skill_half", "skill_half_se", "skill_mean", "skill_mean_se", "ic", "ic_se", "icir",
                    "dir_acc"):
            assert np.isfinite(r[key]), (run, key)
        assert len(r["calibration"]) == 10 and sum(b["n"] for b in r["calibration"]) == r["n_windows"]
        assert all(0.0 <= b["rise_rate"] <= 1.0 for b in r["calibration"])
    assert isinstance(ev["control"]["leak_flag"], bool)
    assert abs(ev["control"]["ic"]) < 0.15  # five tickers: noisy, but a shuffled-label model has no edge
    for name in ev["plots"].values():
        assert (model_dir / name).read_bytes()[:4] == b"\x89PNG"
    out = evaluated.stdout
    assert "Test period" in out and "skill vs 0.5" in out and "Calibration" in out and "control" in out.lower()


def test_evaluate_no_control_to_another_dir(model_dir, cache_env, tmp_path):
    p = stocktune("evaluate", str(model_dir), "--no-control", "--no-plots", "--out", str(tmp_path / "ev"), env=cache_env)
    assert p.returncode == 0, p.stderr
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert "control" not in ev and "model" in ev
    assert not list((tmp_path / "ev").glob("*.png"))


# ---------------------------------------------------------------- predict
def test_predict_table_is_sorted_and_scores_are_0_to_100(model_dir, cache_env):
    p = stocktune("predict", str(model_dir), "--data", "sample", env=cache_env)
    assert p.returncode == 0, p.stderr
    lines = [ln.split() for ln in p.stdout.splitlines()[2:] if ln.strip() and ln.split()[0].isdigit()]
    scores = [float(ln[2]) for ln in lines]
    assert len(lines) >= 4 and scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 100.0 for s in scores)
    assert "2013-03-01" in p.stdout  # the latest date of the sample


def test_predict_csv_and_json_agree_and_top_n(model_dir, cache_env):
    pj = stocktune("predict", str(model_dir), "--data", "sample", "--format", "json", env=cache_env)
    pc = stocktune("predict", str(model_dir), "--data", "sample", "--format", "csv", "--top", "2", env=cache_env)
    assert pj.returncode == 0 and pc.returncode == 0, pj.stderr + pc.stderr
    doc = json.loads(pj.stdout)
    rows = list(csv.DictReader(io.StringIO(pc.stdout)))
    assert len(rows) == 2
    assert [r["ticker"] for r in rows] == [d["ticker"] for d in doc["predictions"][:2]]
    assert float(rows[0]["score"]) == pytest.approx(doc["predictions"][0]["score"], abs=0.01)
    assert {d["ticker"] for d in doc["predictions"]} | {s["ticker"] for s in doc["skipped"]} == \
        {"AAPL", "GOOG", "IBM", "MSFT", "FB"}


def test_predict_on_a_past_date_skips_tickers_not_listed_yet(model_dir, cache_env):
    # FB listed in May 2012: on 2010-06-01 it has no data, the four others score
    p = stocktune("predict", str(model_dir), "--data", "sample", "--date", "2010-06-01", "--format", "json", env=cache_env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["date"] == "2010-06-01"
    assert sorted(d["ticker"] for d in doc["predictions"]) == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert [s["ticker"] for s in doc["skipped"]] == ["FB"]
    assert "skipped FB" in p.stderr and "2012-05-18" in p.stderr  # where FB's data starts


# ---------------------------------------------------------------- bad input -> exit 2, nothing written
@pytest.mark.parametrize("date,expect", [("2031-01-02", "2031-01-02"), ("1999-01-04", "1999-01-04"),
                                         ("2010-06-05", "2010-06-05"),  # a Saturday: no trading
                                         ("06/01/2010", "YYYY-MM-DD")])
def test_predict_bad_date_exits_2_naming_the_date_and_range(model_dir, cache_env, date, expect):
    p = stocktune("predict", str(model_dir), "--data", "sample", "--date", date, env=cache_env)
    assert p.returncode == 2, p.stderr
    assert expect in p.stderr and p.stdout == ""
    if expect != "YYYY-MM-DD":
        assert "2000-03-01" in p.stderr and "2013-03-01" in p.stderr  # the available range


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_model_dir_exits_2(tmp_path, cache_env, command):
    extra = ["--data", "sample"] if command == "predict" else []
    missing = stocktune(command, str(tmp_path / "nope"), *extra, env=cache_env)
    assert missing.returncode == 2 and "nope" in missing.stderr and "fit" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = stocktune(command, str(tmp_path / "empty"), *extra, env=cache_env)
    assert empty.returncode == 2 and "model.pt" in empty.stderr
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "broken").mkdir()
    for f in ("model.pt", "config.json", "dataset_meta.json"):
        (tmp_path / "broken" / f).write_text("garbage")
    broken = stocktune(command, str(tmp_path / "broken"), *extra, env=cache_env)
    assert broken.returncode == 2 and "broken" in broken.stderr and "Traceback" not in broken.stderr
    assert not (tmp_path / "broken" / "evaluation.json").exists()


# ---------------------------------------------------------------- a real (tiny) study never reads the test period
def test_tuning_trials_only_read_train_and_val_periods(tuner_cache, tmp_path):
    import optuna
    from _study import env, stocktune, write_study

    from data_prep import prepare
    from data_prep.config import PrepConfig

    study = write_study(tmp_path, name="final-wf", n_trials=2)
    p = stocktune("worker", str(study), "--n-trials", "2", cwd=ROOT, env=env(tuner_cache), timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr
    res = prepare("sample", PrepConfig(look_back=20, look_ahead=5), tuner_cache)  # the study's [data]: a cache hit
    assert res.cached
    test_start = np.datetime64(res.report.splits["test"].start)
    trading = np.unique(np.asarray(res.dataset().date, "datetime64[D]"))
    st = optuna.load_study(study_name="final-wf", storage=f"sqlite:///{tmp_path}/study.db")
    done = [t for t in st.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 2
    for t in done:
        used = t.user_attrs["data_splits_used"]
        assert set(used) == {"train", "val"}, used  # never "test"
        last_read = max(np.datetime64(end) for _, end in used.values())
        gap = int(((trading > last_read) & (trading < test_start)).sum())
        assert last_read < test_start and gap >= res.report.purge_gap_days, (used, str(test_start))
