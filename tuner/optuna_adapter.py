"""Every use of a private Optuna or optuna-dashboard API, in one place, each with why no public API serves.

pyproject.toml bounds both packages to the versions these were tested with (``TESTED``);
``missing_internals`` names what an installed version lacks, and tests/tuner/test_optuna_adapter.py
fails with that list, so an upgrade breaks one test with a clear message instead of a worker mid-study.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
from collections.abc import Container, Sequence
from typing import Any

import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TESTED", "storage_of", "study_id_of", "trial_id_of", "ARTIFACTS_ATTR_PREFIX", "set_user_attrs", "read_note",
           "write_note", "last_heartbeats", "missing_internals", "OwnTrialsCache"]

TESTED = {"optuna": "5.0.0", "optuna-dashboard": "0.21.0"}
_MEMORY_URL = "sqlite:///:memory:"  # a throw-away RDBStorage for missing_internals
# OwnTrialsCache: a read of a study's trials this recent, with no trial written since, is used again
REUSE_READ_SECONDS = 0.2

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
    value under (trial_id, key)). Falls back to one call per attribute on other storages. Through an
    ``OwnTrialsCache``, the trial's sampled params held back so far are written first (one transaction)."""
    from optuna.storages._rdb import models

    cache = storage if isinstance(storage, OwnTrialsCache) else None
    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, RDBStorage) or rdb.engine.name not in ("sqlite", "postgresql"):
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    if cache is not None:
        cache.flush_params(trial_id)
        cache.wrote()
    if not attrs:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    table = models.TrialUserAttributeModel
    rows = [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
    insert = (sqlite if rdb.engine.name == "sqlite" else postgresql).insert(table).values(rows)
    upsert = insert.on_conflict_do_update(index_elements=[table.trial_id, table.key],
                                          set_={"value_json": insert.excluded.value_json})
    try:
        with _create_scoped_session(rdb.scoped_session, True) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
            rdb.check_trial_is_updatable(trial_id, trial.state)  # what Optuna's own setter checks first
            session.execute(upsert)  # one statement for every attribute (the rows' JSON as Optuna stores it)
    except BaseException:
        if cache is not None:
            cache.forget(trial_id)
        raise
    if cache is not None:
        cache.remember_attrs(trial_id, "user_attrs", attrs)


class OwnTrialsCache(_CachedStorage):
    """Optuna's storage cache (which keeps FINISHED trials in memory) extended to the trials this process runs.

    Why: within one trial Optuna re-reads the running trial from the database again and again (``Trial()``
    on ask, every ``should_prune`` of successive halving, whose rung lives in the trial's system attrs read
    lazily, the objective's own read, the first read of ``tell``) and writes each sampled parameter in a
    transaction of its own. On the sample study those were about half of a worker's storage calls
    (bench/README.md, P5), and no public API avoids them. A RUNNING trial is written only by the process
    that runs it, so this process's copy, updated by its own writes, is what the database holds:

    * ``get_trial`` of a trial this process created or took from the queue, and has not finished, is
      served from that copy (a deep copy: Optuna's ``Trial`` edits what it reads);
    * sampled parameters are held back and written in one INSERT by the trial's next write (the
      objective's first user attributes, right after sampling), before any read of the study's trials
      and before its state changes, so the database lacks them only while the sampling runs;
    * a write that fails drops the copy (the next read goes to the database), and so does finishing;
    * a read of the study's trials less than ``REUSE_READ_SECONDS`` old, with no trial written by this
      process since, is used again (``_read_trials_from_remote_storage``).

    Another process can only FAIL our trial (a stale heartbeat); the database still checks every write,
    so our next write raises as it did without the cache.
    """

    def __init__(self, backend: RDBStorage) -> None:
        super().__init__(backend)
        self._read_at: dict[int, float] = {}  # study id -> when its trials were last read from the database
        self._mine: set[int] = set()  # trials this process runs (created RUNNING, or taken from WAITING)
        self._copies: dict[int, FrozenTrial] = {}  # their current state, as written by this process
        self._params: dict[int, list[tuple[str, float, BaseDistribution]]] = {}  # sampled, not yet written
        self._own_lock = threading.Lock()  # never held while calling the database

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        del state["_own_lock"]
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._own_lock = threading.Lock()

    # ------------------------------------------------------------------------------ bookkeeping

    def forget(self, trial_id: int) -> None:
        """Drop this process's copy of the trial (its state in the database is not known for sure)."""
        with self._own_lock:
            self._copies.pop(trial_id, None)

    def remember_attrs(self, trial_id: int, which: str, attrs: dict[str, Any]) -> None:
        """Record written user/system attrs in the copy, as the database returns them (through JSON)."""
        with self._own_lock:
            copy_ = self._copies.get(trial_id)
            if copy_ is not None:
                getattr(copy_, which).update(json.loads(json.dumps(attrs)))

    def flush_params(self, trial_id: int | None = None) -> None:
        """Write the held-back params of one trial (None: of every trial), each trial's in one INSERT."""
        with self._own_lock:
            ids = [trial_id] if trial_id is not None else list(self._params)
            todo = {i: list(self._params.get(i, ())) for i in ids if self._params.get(i)}
        for tid, params in todo.items():
            try:
                self._insert_params(tid, params)
            except ValueError:  # a distribution incompatible with the study's: it can never be written
                with self._own_lock:
                    self._params.pop(tid, None)
                    self._copies.pop(tid, None)
                raise
            self.wrote()
            with self._own_lock:
                del self._params[tid][: len(params)]
                if not self._params[tid]:
                    del self._params[tid]

    def _insert_params(self, trial_id: int, params: list[tuple[str, float, BaseDistribution]]) -> None:
        """The rows ``RDBStorage.set_trial_param`` writes, with its checks (the trial is updatable, each
        distribution is compatible with the study's for that name), in one transaction and one INSERT."""
        from optuna.storages._rdb import models

        with self._lock:
            study_id = self._trial_id_to_study_id_and_number[trial_id][0]
            known = dict(self._studies[study_id].param_distribution)
        rdb, table = self._backend, models.TrialParamModel
        with _create_scoped_session(rdb.scoped_session, True) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
            rdb.check_trial_is_updatable(trial_id, trial.state)
            unknown = {name for name, _, _ in params if name not in known}
            if unknown:  # a stored record of each name new to this process (Optuna's rule reads one, too)
                rows = (session.query(table.param_name, sqlalchemy.func.min(table.distribution_json))
                        .join(models.TrialModel).filter(models.TrialModel.study_id == trial.study_id)
                        .filter(table.param_name.in_(unknown)).group_by(table.param_name).all())
                known.update({name: optuna.distributions.json_to_distribution(j) for name, j in rows})
            for name, _, dist in params:
                if name in known:
                    optuna.distributions.check_distribution_compatibility(known[name], dist)
            session.execute(sqlalchemy.insert(table).values([
                {"trial_id": trial_id, "param_name": name, "param_value": value,
                 "distribution_json": optuna.distributions.distribution_to_json(dist)}
                for name, value, dist in params]))
        with self._lock:
            mine = self._studies[study_id].param_distribution
            for name, _, dist in params:
                mine.setdefault(name, known.get(name, dist))

    def _write(self, trial_id: int, write: Any) -> Any:
        self.flush_params(trial_id)
        self.wrote()
        try:
            return write()
        except BaseException:
            self.forget(trial_id)
            raise

    def wrote(self) -> None:
        """This process changed trials: its next read of the study's trials goes to the database."""
        with self._own_lock:
            self._read_at.clear()

    # ------------------------------------------------------------------------------ reads

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._own_lock:
            mine = self._copies.get(trial_id)
            if mine is not None:
                return copy.deepcopy(mine)
        self.flush_params(trial_id)
        trial = super().get_trial(trial_id)
        if trial.state == TrialState.RUNNING:
            with self._own_lock:
                if trial_id in self._mine:
                    self._copies[trial_id] = copy.deepcopy(trial)
        return trial

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        self.flush_params()
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        """Optuna's incremental read of the study's trials (six queries), unless this process read them less
        than ``REUSE_READ_SECONDS`` ago and wrote no trial since: asking for a trial reads them three times
        within milliseconds (the worker's count, the queue, the sampler). Another process's change may
        then show up that much later, which is no different from it having been made that much later."""
        started = time.monotonic()
        with self._own_lock:
            last = self._read_at.get(study_id)
        if last is not None and started - last < REUSE_READ_SECONDS:
            return
        super()._read_trials_from_remote_storage(study_id)
        with self._own_lock:
            self._read_at[study_id] = started

    # ------------------------------------------------------------------------------ writes

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            study_id_, number = self._trial_id_to_study_id_and_number[trial_id]
            created = copy.deepcopy(self._studies[study_id_].trials[number])
        if created.state == TrialState.RUNNING:  # not an enqueued (WAITING) one
            with self._own_lock:
                self._mine.add(trial_id)
                self._copies[trial_id] = created
        return trial_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        with self._lock:
            study_id, _ = self._trial_id_to_study_id_and_number[trial_id]
            known = self._studies[study_id].param_distribution.get(param_name)
        if known is not None:  # fail at once, as Optuna does, when the study already knows the param
            optuna.distributions.check_distribution_compatibility(known, distribution)
        with self._own_lock:
            mine = self._copies.get(trial_id)
            if mine is not None:
                self._params.setdefault(trial_id, []).append((param_name, param_value_internal, distribution))
                mine.params[param_name] = distribution.to_external_repr(param_value_internal)
                mine.distributions[param_name] = distribution
                return
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self._write(trial_id, lambda: super(OwnTrialsCache, self).set_trial_intermediate_value(
            trial_id, step, intermediate_value))
        with self._own_lock:
            mine = self._copies.get(trial_id)
            if mine is not None:
                mine.intermediate_values[step] = intermediate_value

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(trial_id, lambda: super(OwnTrialsCache, self).set_trial_user_attr(trial_id, key, value))
        self.remember_attrs(trial_id, "user_attrs", {key: value})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(trial_id, lambda: super(OwnTrialsCache, self).set_trial_system_attr(trial_id, key, value))
        self.remember_attrs(trial_id, "system_attrs", {key: value})

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        try:
            self.flush_params(trial_id)  # a failed trial is re-queued with its params: they must be stored first
        except ValueError:
            pass  # params the study can never hold (dropped, and already raised to the objective): state goes on
        self.forget(trial_id)  # the database sets the times; the next read takes the trial from there
        self.wrote()
        changed = super().set_trial_state_values(trial_id, state, values)
        with self._own_lock:
            if changed and state == TrialState.RUNNING:
                self._mine.add(trial_id)  # taken from the queue: the next read fills the copy
            elif state.is_finished():
                self._mine.discard(trial_id)
        return changed


def read_note(storage: BaseStorage, study_id: int, trial_id: int | None) -> dict[str, Any]:
    """{"version": int, "body": str} of the study's (trial_id None) or a trial's dashboard note.
    ``optuna_dashboard.get_note`` takes a live Study/Trial only; we also read notes of finished trials."""
    from optuna_dashboard._note import get_note_from_system_attrs

    return dict(get_note_from_system_attrs(storage.get_study_system_attrs(study_id), trial_id))


def write_note(storage: BaseStorage, study_id: int, trial_id: int | None, version: int, body: str) -> None:
    """Save a dashboard note as ``version``. ``optuna_dashboard.save_note`` takes a live Study/Trial only,
    and a trial's note is written after ``tell`` (when its system attrs are frozen, the note is not).

    On SQLite and PostgreSQL the attributes ``save_note_with_version`` writes (the version, the body in
    chunks, "" in the chunks of a longer earlier body) go in ONE transaction: it writes each in its own
    and reads every study attribute back, about a tenth of a worker's storage calls on the sample study."""
    from optuna.storages._rdb import models
    from optuna_dashboard._note import note_str_key_prefix, note_ver_key, save_note_with_version, split_body

    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, RDBStorage) or rdb.engine.name not in ("sqlite", "postgresql"):
        save_note_with_version(storage, study_id, trial_id, version, body)
        return
    from sqlalchemy.dialects import postgresql, sqlite

    chunks = split_body(body, trial_id)
    table = models.StudySystemAttributeModel
    rows = [{"study_id": study_id, "key": k, "value_json": json.dumps(v)}
            for k, v in {note_ver_key(trial_id): version, **chunks}.items()]
    insert = (sqlite if rdb.engine.name == "sqlite" else postgresql).insert(table).values(rows)
    upsert = insert.on_conflict_do_update(index_elements=[table.study_id, table.key],
                                          set_={"value_json": insert.excluded.value_json})
    with _create_scoped_session(rdb.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session)
        session.execute(upsert)
        stale = (sqlalchemy.update(table).where(table.study_id == study_id)
                 .where(table.key.startswith(note_str_key_prefix(trial_id), autoescape=True))
                 .where(table.key.not_in(list(chunks))).values(value_json=json.dumps("")))
        session.execute(stale)  # an earlier, longer body's last chunks


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
    for method in ("check_trial_is_updatable", "_set_trial_param_without_commit", "_create_new_trial", "scoped_session"):
        if rdb_cls is not None and not hasattr(rdb_cls(_MEMORY_URL), method):
            missing.append(f"optuna.storages.RDBStorage.{method}")
    cached = need("optuna.storages._cached_storage", "_CachedStorage")
    if cached is not None and rdb_cls is not None:  # what OwnTrialsCache reads of its base class
        instance = cached(rdb_cls(_MEMORY_URL))
        for attr in ("_backend", "_lock", "_studies", "_trial_id_to_study_id_and_number"):
            if not hasattr(instance, attr):
                missing.append(f"optuna.storages._cached_storage._CachedStorage.{attr}")
        for method in ("create_new_trial", "set_trial_param", "get_trial", "get_all_trials", "set_trial_state_values",
                       "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
                       "_read_trials_from_remote_storage"):
            if method not in vars(cached):
                missing.append(f"optuna.storages._cached_storage._CachedStorage.{method}")
        info = need("optuna.storages._cached_storage", "_StudyInfo")
        if info is not None and not all(hasattr(info(), a) for a in ("trials", "param_distribution")):
            missing.append("optuna.storages._cached_storage._StudyInfo.trials/param_distribution")
    get_note = need("optuna_dashboard._note", "get_note_from_system_attrs")
    for name in ("split_body", "note_ver_key", "note_str_key_prefix"):
        need("optuna_dashboard._note", name)
    save = need("optuna_dashboard._note", "save_note_with_version")
    try:
        models = importlib.import_module("optuna.storages._rdb.models")
    except ImportError:
        models = None
        missing.append("optuna.storages._rdb.models")
    if models is not None:
        for cls, cols in (("TrialHeartbeatModel", ("trial_id", "heartbeat")), ("TrialModel", ("trial_id", "study_id")),
                          ("TrialUserAttributeModel", ("trial_id", "key", "value_json")),
                          ("TrialParamModel", ("trial_id", "param_name", "param_value", "distribution_json")),
                          ("StudySystemAttributeModel", ("study_id", "key", "value_json"))):
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
