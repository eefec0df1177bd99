"""A study that cannot run here is rejected before any work (issue 12, items 14 and 15).

* device = "cuda" on a machine without CUDA (or cuda:N beyond the device count): `worker`, `tune` and
  `launch` exit 2 naming the key and the table, before the dataset is prepared or a trial starts
  (before: every trial FAILed and the budget was burnt).
* metric and direction that contradict each other exit 2 naming both keys.
"""
from __future__ import annotations

import os

import pytest
import torch
from _study import stocktune, write_study

from common.errors import InputError
from model.train import resolve_device
from tuner.study_config import load_study_config

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
COMMANDS = {"worker": ("--threads", "1"), "tune": ("--workers", "1"), "launch": ("--workers", "1")}


@no_cuda
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("table, device", [("train", "cuda"), ("train", "cuda:1"), ("search", "cuda")])
def test_cuda_without_cuda_exits_2_before_any_work(tmp_path, command, table, device):
    study = write_study(tmp_path, name="gpu", **({"train": {"device": device}} if table == "train"
                                                 else {"search": {"device": device}}))
    before = sorted(os.listdir(tmp_path))
    r = stocktune(command, str(study), *COMMANDS[command], cwd=tmp_path, cache=tmp_path / "cache", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"device={device!r}" in r.stderr and f"[{table}]" in r.stderr and str(study) in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == before, "something was written (cache, storage, logs)"


def test_cuda_index_beyond_the_device_count_is_an_input_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(InputError, match=r"device='cuda:2'.*2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(InputError, match=r"cuda\[:N\]"):
        resolve_device("cudax")


def test_launch_rejects_cuda_n_because_each_worker_sees_its_gpu_as_cuda_0(tmp_path, monkeypatch):
    from tuner.preflight import preflight

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cfg = load_study_config(write_study(tmp_path, train={"device": "cuda:1"}))
    preflight(cfg)  # a single worker may use the second GPU
    with pytest.raises(InputError, match=r"launch.*cuda:0.*\[train\]"):
        preflight(cfg, launching=True)
    preflight(load_study_config(write_study(tmp_path, train={"device": "cuda"})), launching=True)


@pytest.mark.parametrize("metric, direction", [("val_ic", "minimize"), ("val_mae", "maximize"),
                                               ("val_skill_half", "minimize")])
def test_contradicting_metric_and_direction_exit_2_naming_both(tmp_path, metric, direction):
    study = write_study(tmp_path, name="dir", extra={"metric": metric, "direction": direction})
    with pytest.raises(InputError, match=rf"metric={metric!r}.*direction={direction!r}"):
        load_study_config(study)
    r = stocktune("worker", str(study), cwd=tmp_path, cache=tmp_path / "cache", timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "metric" in r.stderr and "direction" in r.stderr and str(study) in r.stderr, r.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "study.db").exists()


@pytest.mark.parametrize("metric, direction", [("val_ic", "maximize"), ("val_mae", "minimize"),
                                               ("val_rmse", "minimize")])
def test_a_direction_that_agrees_or_is_left_out_is_accepted(tmp_path, metric, direction):
    assert load_study_config(write_study(tmp_path, extra={"metric": metric, "direction": direction})).direction == direction
    assert load_study_config(write_study(tmp_path, extra={"metric": metric})).direction == direction
