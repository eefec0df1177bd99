"""The default thread count of fit/evaluate/predict (issue 12, item 17): the cores nobody else is using."""
from __future__ import annotations

import pytest

from common import cpus
from common.errors import InputError


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.1, 2),    # an idle 2-core machine: both cores
    (2, 2.3, 1),    # a study's two workers busy on the same 2 cores: one thread, not two that fight them
    (2, 9.0, 1),    # never fewer than one
    (16, 3.6, 8),   # capped
    (16, 10.2, 6),  # what the load leaves free
    (4, 1.4, 3),
])
def test_default_is_the_free_cores_between_1_and_the_cap(monkeypatch, cores, load, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpus.default_threads(cores=cores, load=load) == expected


def test_omp_num_threads_is_the_default_when_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpus.default_threads(cores=2, load=5.0) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert cpus.default_threads(cores=2, load=5.0) == 1


def test_the_flag_wins_then_the_config_then_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpus.resolve_threads(2, configured=5) == 2
    assert cpus.resolve_threads(None, configured=5) == 5
    assert cpus.resolve_threads(None) == 3
    with pytest.raises(InputError, match="--threads must be >= 1"):
        cpus.resolve_threads(0)


def test_available_cores_honours_a_cgroup_quota(monkeypatch, tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # docker run --cpus 1.5
    assert cpus._cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpus._cgroup_quota(tmp_path) is None
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: 1.5)
    assert cpus.available_cores() == 1
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: None)
    assert cpus.available_cores() >= 1
