"""launch: GPU round-robin / CPU split, and a crashed worker makes the launcher exit non-zero."""
from __future__ import annotations

import tomli_w
from _study import env, stocktune, write_study

from tuner.launcher import plan_workers


def test_gpus_round_robin_with_k_workers_per_gpu():
    plans = plan_workers(4, workers_per_gpu=2, n_gpus=2, cores=16)
    assert [p.cuda_visible_devices for p in plans] == ["0", "0", "1", "1"]
    assert [p.cuda_visible_devices for p in plan_workers(3, 1, n_gpus=2, cores=16)] == ["0", "1", "0"]


def test_cpu_threads_are_split_between_workers():
    plans = plan_workers(2, n_gpus=0, cores=2)
    assert [(p.threads, p.cuda_visible_devices) for p in plans] == [(1, None), (1, None)]
    assert {p.threads for p in plan_workers(3, n_gpus=0, cores=16)} == {5}
    assert {p.threads for p in plan_workers(8, n_gpus=0, cores=2)} == {1}
    assert {p.threads for p in plan_workers(2, n_gpus=0, cores=8, threads=3)} == {3}


def test_a_crashed_worker_makes_launch_exit_nonzero(tmp_path, tuner_cache):
    path = write_study(tmp_path, name="crash", n_trials=2)
    doc = __import__("tomllib").loads(path.read_text())
    doc["data"]["source"] = str(tmp_path / "no-such-dir")  # valid config, fails in the worker's data prep
    path.write_text(tomli_w.dumps(doc))
    r = stocktune("launch", str(path), "--workers", "2", cwd=tmp_path, env=env(tuner_cache), timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "worker 0" in r.stderr and "exited with 2" in r.stderr and "no-such-dir" in r.stderr


def test_launch_passes_a_storage_override_to_its_workers(tmp_path, tuner_cache):
    import optuna

    path = write_study(tmp_path, name="over", n_trials=2)
    other = f"sqlite:///{tmp_path}/other.db"
    r = stocktune("launch", str(path), "--workers", "2", "--storage", other, cwd=tmp_path, env=env(tuner_cache),
                  timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    done = optuna.load_study(study_name="over", storage=other).get_trials(
        states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    assert 2 <= len(done) <= 3
    assert not (tmp_path / "study.db").exists()  # the file's own storage was never touched
