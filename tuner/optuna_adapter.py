"""Every use of a private Optuna or optuna-dashboard API, in one place, each with why no public API serves.

pyproject.toml bounds both packages to the versions these were tested with (``TESTED``);
``missing_internals`` names what an installed version lacks, and tests/tuner/test_optuna_adapter.py
fails with that list, so an upgrade breaks one test with a clear message instead of a worker mid-study.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage

__all__ = ["TESTED", "storage_of", "study_id_of", "trial_id_of", "ARTIFACTS_ATTR_PREFIX", "set_user_attrs", "read_note",
           "write_note", "last_heartbeats", "missing_internals"]

TESTED = {"optuna": "5.0.0", "optuna-dashboard": "0.21.0"}

# Optuna lists a study's or trial's artifacts by system attributes with this prefix. We write that
# attribute ourselves because ``optuna.artifacts.upload_artifact`` draws a random uuid4 id per call:
# N workers uploading the same report image would add N copies; ours is derived from the content's
# identity, so a repeated upload overwrites (tuner/story.py, upload_once).
try:
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX
except ImportError:  # pragma: no cover - reported by missing_internals
    ARTIFACTS_ATTR_PREFIX = "artifacts:"


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study writes through. ``Study`` has no public accessor, and the trial-level calls the
    worker needs (state by trial id, system attrs of a finished trial, heartbeats) exist only on the storage."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's storage id. The public ``storage.get_study_id_from_name`` costs a query per call."""
    return study._study_id


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """A trial's storage id (both trial classes keep it private). The public
    ``storage.get_trial_id_from_study_id_trial_number`` costs a query per call."""
    return trial._trial_id


def set_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    """Set several user attributes of a running trial in ONE upsert statement. Optuna's public API writes
    one attribute per transaction; a trial records about twenty-five, which on SQLite cost a worker a few
    per cent of its time. The rows are what ``RDBStorage.set_trial_user_attr`` writes (the JSON of the
    value under (trial_id, key)). Falls back to one call per attribute on other storages."""
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, RDBStorage) or rdb.engine.name not in ("sqlite", "postgresql"):
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    if not attrs:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    table = models.TrialUserAttributeModel
    rows = [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
    insert = (sqlite if rdb.engine.name == "sqlite" else postgresql).insert(table).values(rows)
    upsert = insert.on_conflict_do_update(index_elements=[table.trial_id, table.key],
                                          set_={"value_json": insert.excluded.value_json})
    with _create_scoped_session(rdb.scoped_session, True) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        rdb.check_trial_is_updatable(trial_id, trial.state)  # what Optuna's own setter checks first
        session.execute(upsert)  # one statement for every attribute (the rows' JSON as Optuna stores it)


def read_note(storage: BaseStorage, study_id: int, trial_id: int | None) -> dict[str, Any]:
    """{"version": int, "body": str} of the study's (trial_id None) or a trial's dashboard note.
    ``optuna_dashboard.get_note`` takes a live Study/Trial only; we also read notes of finished trials."""
    from optuna_dashboard._note import get_note_from_system_attrs

    return dict(get_note_from_system_attrs(storage.get_study_system_attrs(study_id), trial_id))


def write_note(storage: BaseStorage, study_id: int, trial_id: int | None, version: int, body: str) -> None:
    """Save a dashboard note as ``version``. ``optuna_dashboard.save_note`` takes a live Study/Trial only,
    and a trial's note is written after ``tell`` (when its system attrs are frozen, the note is not)."""
    from optuna_dashboard._note import save_note_with_version

    save_note_with_version(storage, study_id, trial_id, version, body)


def last_heartbeats(storage: BaseStorage, study_id: int) -> tuple[dt.datetime, dict[int, dt.datetime]]:
    """(the database's now, trial_id -> last heartbeat), both on the database clock.

    The heartbeat table has no public reader (``RDBStorage`` exposes only the ids of stale trials), and
    ``status`` shows each running trial's heartbeat age; ``optuna.load_study`` wraps an RDBStorage in a
    private cache class whose ``_backend`` is the RDBStorage."""
    from optuna.storages._rdb import models

    rdb = getattr(storage, "_backend", storage)
    session = rdb.scoped_session()
    try:
        rows = (session.query(models.TrialHeartbeatModel.trial_id, models.TrialHeartbeatModel.heartbeat)
                .join(models.TrialModel, models.TrialModel.trial_id == models.TrialHeartbeatModel.trial_id)
                .filter(models.TrialModel.study_id == study_id).all())
        now = session.execute(sqlalchemy.func.now()).scalar()
        session.commit()
    finally:
        session.close()
    return now.replace(tzinfo=None), {int(tid): hb.replace(tzinfo=None) for tid, hb in rows}


def missing_internals() -> list[str]:
    """What this adapter needs and the installed optuna / optuna-dashboard lack (empty when all is there)."""
    import importlib
    import inspect

    missing: list[str] = []

    def need(module: str, name: str) -> Any:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{name}")
            return None

    need("optuna.artifacts._upload", "ARTIFACTS_ATTR_PREFIX")
    need("optuna.storages._rdb.storage", "_create_scoped_session")
    rdb_cls = need("optuna.storages", "RDBStorage")
    if rdb_cls is not None and not hasattr(rdb_cls, "check_trial_is_updatable"):
        missing.append("optuna.storages.RDBStorage.check_trial_is_updatable")
    get_note = need("optuna_dashboard._note", "get_note_from_system_attrs")
    save = need("optuna_dashboard._note", "save_note_with_version")
    try:
        models = importlib.import_module("optuna.storages._rdb.models")
    except ImportError:
        models = None
        missing.append("optuna.storages._rdb.models")
    if models is not None:
        for cls, cols in (("TrialHeartbeatModel", ("trial_id", "heartbeat")), ("TrialModel", ("trial_id", "study_id")),
                          ("TrialUserAttributeModel", ("trial_id", "key", "value_json"))):
            model = getattr(models, cls, None)
            missing += [f"optuna.storages._rdb.models.{cls}.{c}" for c in cols if not hasattr(model, c)]
    if save is not None and list(inspect.signature(save).parameters) != ["storage", "study_id", "trial_id", "ver", "body"]:
        missing.append("optuna_dashboard._note.save_note_with_version(storage, study_id, trial_id, ver, body)")
    if get_note is not None and list(inspect.signature(get_note).parameters) != ["system_attrs", "trial_id"]:
        missing.append("optuna_dashboard._note.get_note_from_system_attrs(system_attrs, trial_id)")
    study = optuna.create_study()  # in memory: the private attributes of Study, Trial and FrozenTrial
    trial = study.ask()
    for obj, attr in ((study, "_storage"), (study, "_study_id"), (trial, "_trial_id")):
        if not hasattr(obj, attr):
            missing.append(f"{type(obj).__module__}.{type(obj).__name__}.{attr}")
    study.tell(trial, 0.0)
    if not hasattr(study.trials[0], "_trial_id"):
        missing.append("optuna.trial.FrozenTrial._trial_id")
    return missing
