"""PostgreSQL reliability: real `stocktune worker` processes against the real server of tests/pg.py.

* The server restarts mid-study (down 5 s): the workers wait and reconnect, and the study reaches
  its budget with no trial failed because of the outage.
* Four workers at once: no lost or duplicated trial numbers, and every COMPLETE trial has its metrics.
"""
from __future__ import annotations

import threading
from pathlib import Path

import optuna
import pytest
from _study import ARCH_SEARCH, ARCH_TRAIN, Processes, env, stocktune, write_study
from optuna.trial import TrialState

from tuner.optuna_adapter import trial_id_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

METRIC_ATTRS = ("val_mae", "val_rmse", "val_ic", "val_dir_acc", "val_skill_half", "best_epoch", "samples_per_s")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The sample dataset, prepared once for the module (workers then only memory-map it)."""
    root = tmp_path_factory.mktemp("pgcache")
    study = _write(root, "prep", "sqlite:///unused.db", n_trials=1, epochs=1, samples=64)
    r = stocktune("prep", "--config", str(study), "--cache", str(root / "cache"), "--quiet", cwd=root, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root / "cache"


def _write(root: Path, name: str, url: str, n_trials: int, epochs: int, samples: int) -> Path:
    """The study file: [sampler] defaults, a heartbeat that outlasts the 5 s outage."""
    return write_study(root, name=name, storage=url, n_trials=n_trials, search=ARCH_SEARCH, sampler={},
                       train={**ARCH_TRAIN, "epochs": epochs, "samples_per_epoch": samples},
                       heartbeat={"interval": 2, "grace_period": 30})


def _workers(study: Path, n: int, cache: Path) -> Processes:
    """N `stocktune worker` subprocesses whose output is collected; always stopped in ``close``."""
    return Processes("worker", str(study), "--threads", "1", n=n, cwd=study.parent, env=env(cache))


def _study(url: str, name: str) -> optuna.Study:
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    return optuna.load_study(storage=storage, study_name=name)


def test_server_restart_mid_study_fails_no_trial(postgres_server, postgres_url, cache, tmp_path):
    n_trials = 6
    study_file = _write(tmp_path, "restart", postgres_url, n_trials=n_trials, epochs=4, samples=1024)
    workers = _workers(study_file, 2, cache)
    try:
        def training() -> bool:
            try:
                trials = _study(postgres_url, "restart").get_trials(deepcopy=False)
            except Exception:  # noqa: BLE001 - the study may not exist yet
                return False
            return any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials)

        workers.wait_until(training, 240, "a trial to report its first epoch")
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
    study_file = _write(tmp_path, "four", postgres_url, n_trials=n_trials, epochs=2, samples=256)
    workers = _workers(study_file, n_workers, cache)
    codes, log = workers.finish(300)
    assert codes == [0] * n_workers, log
    trials = _study(postgres_url, "four").get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers  # none lost, none duplicated
    assert len({trial_id_of(t) for t in trials}) == len(trials)
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
