"""PostgreSQL reliability: real `stocktune worker` processes against the real server of tests/pg.py.

* The server restarts mid-study (down 5 s): the workers wait and reconnect, and the study reaches
  its budget with no trial failed because of the outage.
* Four workers at once: no lost or duplicated trial numbers, and every COMPLETE trial has its metrics.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STUDY = """\
name = "{name}"
storage = "{url}"
artifacts = "{root}/artifacts"
n_trials = {n_trials}
[data]
source = "sample"
look_back = 20
look_ahead = 5
[train]
epochs = {epochs}
samples_per_epoch = {samples}
val_samples = 256
eval_batch_size = 256
batch_size = 64
cell = "gru"
[search]
learning_rate = {{ low = 1e-4, high = 1e-2, log = true }}
num_layers = {{ low = 1, high = 2 }}
hidden_dim = {{ choices = [8, 16] }}
warmup_ratio = {{ low = 0.0, high = 0.2 }}
[pruner]
name = "none"
[heartbeat]
interval = 2
grace_period = 30
"""

METRIC_ATTRS = ("val_mae", "val_rmse", "val_ic", "val_dir_acc", "val_skill_half", "best_epoch", "samples_per_s")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The sample dataset, prepared once for the module (workers then only memory-map it)."""
    root = tmp_path_factory.mktemp("pgcache")
    study = root / "prep.toml"
    study.write_text(STUDY.format(name="prep", url="sqlite:///unused.db", root=root, n_trials=1, epochs=1, samples=64))
    subprocess.run([sys.executable, "-m", "tuner.cli", "prep", "--config", str(study), "--cache", str(root / "cache"),
                    "--quiet"], check=True, capture_output=True, text=True, timeout=300)
    return root / "cache"


class Workers:
    """N `stocktune worker` subprocesses whose output is collected; always stopped in ``close``."""

    def __init__(self, study: Path, n: int, cache: Path) -> None:
        env = {**os.environ, "STOCKTUNE_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
        self.procs = []
        self.out: list[list[str]] = []
        for _ in range(n):
            p = subprocess.Popen([sys.executable, "-m", "tuner.cli", "worker", str(study), "--threads", "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            lines: list[str] = []
            threading.Thread(target=lambda p=p, lines=lines: lines.extend(p.stdout), daemon=True).start()
            self.procs.append(p)
            self.out.append(lines)

    def wait(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        return [p.wait(max(1.0, deadline - time.monotonic())) for p in self.procs]

    def text(self) -> str:
        return "\n".join(f"--- worker {i} ---\n" + "".join(lines) for i, lines in enumerate(self.out))

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def _study(url: str, name: str) -> optuna.Study:
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    return optuna.load_study(storage=storage, study_name=name)


def _wait_for(cond, timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert all(p.poll() is None for p in workers.procs) or cond(), f"a worker exited before {what}:\n{workers.text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{workers.text()}"
        time.sleep(0.2)


def test_server_restart_mid_study_fails_no_trial(postgres_server, postgres_url, cache, tmp_path):
    n_trials = 6
    study_file = tmp_path / "restart.toml"
    study_file.write_text(STUDY.format(name="restart", url=postgres_url, root=tmp_path, n_trials=n_trials,
                                       epochs=4, samples=1024))
    workers = Workers(study_file, 2, cache)
    try:
        def training() -> bool:
            try:
                trials = _study(postgres_url, "restart").get_trials(deepcopy=False)
            except Exception:  # noqa: BLE001 - the study may not exist yet
                return False
            return any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials)

        _wait_for(training, 240, "a trial to report its first epoch", workers)
        postgres_server.restart(down_seconds=5)
        codes = workers.wait(300)
    finally:
        workers.close()
    log = workers.text()
    assert codes == [0, 0], log
    # the outage must have reached a worker (a retried storage call or a failed heartbeat)
    assert "storage unavailable" in log or "heartbeat for trial" in log, \
        "the outage never reached a worker; the test proved nothing:\n" + log
    trials = _study(postgres_url, "restart").get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert TrialState.FAIL not in states, [(t.number, t.state, t.user_attrs.get("fail_reason")) for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) >= n_trials
    for t in trials:
        assert t.state != TrialState.RUNNING, f"trial {t.number} left RUNNING"


def test_four_concurrent_workers_lose_and_duplicate_nothing(postgres_url, cache, tmp_path):
    n_trials, n_workers = 8, 4
    study_file = tmp_path / "four.toml"
    study_file.write_text(STUDY.format(name="four", url=postgres_url, root=tmp_path, n_trials=n_trials,
                                       epochs=2, samples=256))
    workers = Workers(study_file, n_workers, cache)
    try:
        codes = workers.wait(300)
    finally:
        workers.close()
    log = workers.text()
    assert codes == [0] * n_workers, log
    trials = _study(postgres_url, "four").get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers  # none lost, none duplicated
    assert len({t._trial_id for t in trials}) == len(trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= n_trials
    assert len(trials) < n_trials + n_workers, f"budget overshot: {len(trials)} trials for n_trials={n_trials}"
    assert not [t for t in trials if t.state == TrialState.FAIL], log
    for t in complete:
        missing = [k for k in METRIC_ATTRS if t.user_attrs.get(k) is None]
        assert not missing, f"trial {t.number} lacks {missing}"
        assert t.value == pytest.approx(t.user_attrs["val_mae"])
        assert len(t.intermediate_values) == 2
    # every worker pulled trials: the work really was concurrent
    assert len({t.user_attrs.get("worker_pid") for t in complete}) >= 2


def test_workers_creating_the_schema_at_once(postgres_url):
    """Six workers opening a fresh database at the same instant: optuna's schema creation races
    (CREATE TYPE / alembic stamp -> UniqueViolation); open_storage retries it, so none fails and the
    schema ends up stamped once."""
    from sqlalchemy import create_engine, text

    from tuner.storage import open_storage

    barrier = threading.Barrier(6)
    errors: list[str] = []

    def open_one() -> None:
        barrier.wait()
        try:
            open_storage(postgres_url, None, None).engine.dispose()
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {str(e)[:200]}")

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as c:
            assert c.execute(text("select count(*) from alembic_version")).scalar() == 1
            assert c.execute(text("select count(*) from version_info")).scalar() == 1
    finally:
        engine.dispose()
