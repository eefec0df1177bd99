"""Workers started at the same instant on a new SQLite file (issue 12, item 12).

Optuna's schema creation (create_all + the alembic stamp) is not safe to race: one of two workers
started together used to exit 1 with `UNIQUE constraint failed: alembic_version` in about one try
of four. open_storage serializes the first creation with a file lock next to the database.
"""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _study import Processes, env, stocktune, write_study

pytestmark = pytest.mark.slow

N_WORKERS, ROUNDS = 6, 3


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """The dataset, prepared once: the workers below then race for the storage, not for the cache."""
    root = tmp_path_factory.mktemp("race")
    study = write_study(root, name="prep")
    r = stocktune("prep", "--config", str(study), "--quiet", cwd=root, cache=root / "cache", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root / "cache"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_workers_started_together_on_a_new_sqlite_file_all_succeed(tmp_path, warm_cache, round_):
    study = write_study(tmp_path, name=f"race{round_}", n_trials=1, train={"epochs": 1, "samples_per_epoch": 256})
    assert not (tmp_path / "study.db").exists()
    workers = Processes("worker", str(study), "--threads", "1", n=N_WORKERS, cwd=tmp_path, env=env(warm_cache))
    codes, log = workers.finish(300)
    assert codes == [0] * N_WORKERS, log
    assert "Traceback" not in log, log
    s = optuna.load_study(study_name=f"race{round_}", storage=f"sqlite:///{tmp_path}/study.db")
    assert len(s.trials) >= 1
