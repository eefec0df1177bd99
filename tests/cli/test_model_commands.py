"""`fit`, `evaluate` and `predict`: --threads, and a device that does not exist (issue 12, items 14, 17).

* --threads T sets torch's threads (a bad value exits 2); without it the default never oversubscribes
  (the rule, common/cpus.py, is unit-tested in tests/common/test_cpus.py).
* --device cuda (or a config's device = "cuda") on a machine without CUDA exits 2 naming where it
  was set, before any data is prepared and without writing anything.
"""
from __future__ import annotations

import json
from pathlib import Path

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
epochs = 2
samples_per_epoch = 256
batch_size = 128
val_samples = 256
eval_batch_size = 1024
device = "{device}"
{threads}
[result]
best_epoch = 1
"""
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def run_file(directory: Path, device: str = "cpu", threads: int | None = None) -> Path:
    path = directory / f"run-{device.replace(':', '')}-{threads}.toml"
    path.write_text(RUN.format(device=device, threads="" if threads is None else f"threads = {threads}"))
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, cache) -> Path:
    """A final model of two tiny epochs, trained once for the module."""
    root = tmp_path_factory.mktemp("cli-model")
    r = stocktune("fit", "--config", str(run_file(root)), "--final", "--out", str(root / "final"), "--quiet",
                  "--threads", "1", cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root / "final"


def test_fit_threads_sets_the_threads_and_a_bad_value_exits_2(tmp_path, cache):
    r = stocktune("fit", "--config", str(run_file(tmp_path, threads=1)), "--threads", "2", "--quiet",
                  "--out", str(tmp_path / "m"), cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(device cpu, threads 2)" in r.stdout, r.stdout  # the flag wins over [train] threads = 1
    assert json.loads((tmp_path / "m" / "config.json").read_text())["threads"] == 2
    r = stocktune("fit", "--config", str(run_file(tmp_path)), "--threads", "0", cache=cache, timeout=120)
    assert r.returncode == 2 and "argument --threads: must be a whole number >= 1" in r.stderr, r.stderr


def test_fit_default_threads_come_from_the_file_then_omp_then_the_free_cores(tmp_path, cache):
    r = stocktune("fit", "--config", str(run_file(tmp_path, threads=1)), "--quiet", cache=cache, timeout=300,
                  env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0 and "threads 1)" in r.stdout, r.stdout + r.stderr
    r = stocktune("fit", "--config", str(run_file(tmp_path)), "--quiet", cache=cache, timeout=300,
                  env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0 and "threads 2)" in r.stdout, r.stdout + r.stderr
    r = stocktune("fit", "--config", str(run_file(tmp_path)), "--quiet", cache=cache, timeout=300,
                  env={"OMP_NUM_THREADS": ""})
    assert r.returncode == 0, r.stdout + r.stderr
    from common.cpus import THREADS_CAP, available_cores

    threads = int(r.stdout.split("threads ")[-1].split(")")[0])
    assert 1 <= threads <= min(THREADS_CAP, available_cores()), r.stdout


def test_evaluate_and_predict_take_threads(tmp_path, model_dir, cache):
    r = stocktune("evaluate", str(model_dir), "--controls", "1", "--no-plots", "--threads", "1",
                  "--out", str(tmp_path / "ev"), cache=cache, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["train_config"]["threads"] == 1
    r = stocktune("predict", str(model_dir), "--data", "sample", "--threads", "1", "--format", "json",
                  cache=cache, timeout=300)
    assert r.returncode == 0 and json.loads(r.stdout)["n_scored"] >= 1, r.stdout + r.stderr
    for command in (["evaluate", str(model_dir), "--out", str(tmp_path / "bad")],
                    ["predict", str(model_dir), "--data", "sample"]):
        r = stocktune(*command, "--threads", "0", cache=cache, timeout=120)
        assert r.returncode == 2 and "argument --threads: must be a whole number >= 1" in r.stderr, r.stderr
    assert not (tmp_path / "bad").exists()


@no_cuda
def test_fit_on_a_missing_gpu_exits_2_before_preparing_data(tmp_path):
    cache = tmp_path / "cache"
    for args, where in ((["--config", str(run_file(tmp_path)), "--device", "cuda"], "(--device)"),
                        (["--config", str(run_file(tmp_path, device="cuda:0"))], "run-cuda0-None.toml, [train])")):
        r = stocktune("fit", *args, "--out", str(tmp_path / "m"), cache=cache, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "no CUDA device" in r.stderr and where in r.stderr, r.stderr
    assert not cache.exists() and not (tmp_path / "m").exists()


@no_cuda
def test_evaluate_and_predict_on_a_missing_gpu_exit_2_and_write_nothing(tmp_path, model_dir):
    cache = tmp_path / "cache"
    for command in (["evaluate", str(model_dir), "--out", str(tmp_path / "ev")],
                    ["predict", str(model_dir), "--data", "sample"]):
        r = stocktune(*command, "--device", "cuda", cache=cache, timeout=120)
        assert r.returncode == 2 and "no CUDA device" in r.stderr and "(--device)" in r.stderr, r.stderr
    # a model whose config.json says cuda (trained on a GPU machine): named, with the way out
    gpu_model = tmp_path / "gpu_model"
    gpu_model.mkdir()
    for f in model_dir.iterdir():
        (gpu_model / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((gpu_model / "config.json").read_text())
    (gpu_model / "config.json").write_text(json.dumps({**cfg, "device": "cuda"}))
    r = stocktune("evaluate", str(gpu_model), "--out", str(tmp_path / "ev"), cache=cache, timeout=120)
    assert r.returncode == 2 and "config.json" in r.stderr and "--device cpu" in r.stderr, r.stderr
    assert not cache.exists() and not (tmp_path / "ev").exists()
    assert not (gpu_model / "evaluation.json").exists()
