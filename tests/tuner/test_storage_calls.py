"""A worker's storage calls (P5), fewer while the database holds what it held before: OwnTrialsCache
(tuner/optuna_adapter.py) reads the running trial from memory and writes its sampled params in one INSERT;
write_note writes a dashboard note in one transaction."""
from __future__ import annotations

import collections

import optuna
import pytest
from optuna.trial import TrialState

from tuner.optuna_adapter import (
    OwnTrialsCache,
    read_note,
    set_user_attrs,
    storage_of,
    study_id_of,
    trial_id_of,
    write_note,
)
from tuner.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _suggest(trial: optuna.Trial) -> dict:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True), "layers": trial.suggest_int("layers", 1, 4),
            "cell": trial.suggest_categorical("cell", ["gru", "lstm"])}


def _counting(rdb) -> collections.Counter:
    """Count the calls of every RDBStorage method on this one instance (outermost calls only)."""
    calls: collections.Counter = collections.Counter()
    depth = [0]
    for name in [n for n in dir(type(rdb)) if not n.startswith("__") and callable(getattr(type(rdb), n))]:
        fn = getattr(rdb, name)

        def counted(*a, _fn=fn, _name=name, **k):
            if depth[0] == 0:
                calls[_name] += 1
            depth[0] += 1
            try:
                return _fn(*a, **k)
            finally:
                depth[0] -= 1
        setattr(rdb, name, counted)
    return calls


def _trial(study: optuna.Study, pruner_reads: int = 4) -> optuna.trial.FrozenTrial:
    """What the objective does: sample, record attrs, report and ask the pruner per epoch, tell."""
    trial = study.ask()
    storage = storage_of(study)
    assert storage.get_trial(trial_id_of(trial)).state == TrialState.RUNNING
    params = _suggest(trial)
    set_user_attrs(storage, trial_id_of(trial), {"lineage": trial.number, "folds": [{"fold": 1}]})
    for step in range(1, pruner_reads + 1):
        trial.report(0.5 / step, step)
        trial.should_prune()
    trial.set_user_attr("epochs_run", pruner_reads)
    frozen = study.tell(trial, 0.1 * (trial.number + 1))
    assert frozen.params == params
    return frozen


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    """Each test on SQLite and on PostgreSQL (the batched statements are dialect-specific)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_a_trial_reads_itself_from_memory_and_writes_its_params_once(url):
    """Before the cache: 1 + 4 + 1 + 2 reads of the running trial (ask, successive halving's rung per epoch,
    the worker, tell) and one transaction per param; now the one read after tell, and one param write."""
    rdb = open_storage(url, None)
    study = optuna.create_study(storage=OwnTrialsCache(rdb), study_name="c",
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1))
    _trial(study)  # the first trial reads the study's param distributions once
    calls = _counting(rdb)
    frozen = _trial(study)
    assert calls["get_trial"] == 1, calls  # tell's read of the finished trial (the database sets its times)
    assert calls["_set_trial_param"] == 0 and calls["set_trial_param"] == 0, calls
    assert calls["_set_trial_param_without_commit"] == 0, calls  # one INSERT of all params
    assert calls["_create_new_trial"] == 1, calls
    assert frozen.state == TrialState.COMPLETE and frozen.user_attrs["folds"] == [{"fold": 1}]


def test_another_process_sees_the_same_trials_as_without_the_cache(url, tmp_path):
    plain = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'plain.db'}", None), study_name="p",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    cached = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c",
                                 sampler=optuna.samplers.RandomSampler(seed=1))
    for study in (plain, cached):
        for _ in range(3):
            _trial(study)
    other = optuna.load_study(study_name="c", storage=url)  # a fresh reader: the database's own view
    fields = ("number", "state", "value", "params", "distributions", "user_attrs", "system_attrs",
              "intermediate_values")
    assert [[getattr(t, f) for f in fields] for t in other.get_trials()] == \
           [[getattr(t, f) for f in fields] for t in plain.get_trials()]


def test_params_reach_the_database_with_the_first_attrs_before_any_epoch(url):
    """Other workers' samplers (constant liar) and the dashboard see a running trial's params at once."""
    study = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c")
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_int("layers", 1, 4)
    other = optuna.load_study(study_name="c", storage=url)
    assert other.get_trials()[0].params == {}  # held back while sampling
    set_user_attrs(storage_of(study), trial_id_of(trial), {"lineage": 0})
    assert other.get_trials()[0].params == trial.params and other.get_trials()[0].user_attrs == {"lineage": 0}


def test_a_trial_failed_before_its_attrs_keeps_its_params_for_the_retry(url):
    study = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c")
    trial = study.ask()
    trial.suggest_int("layers", 1, 4)
    study.tell(trial, state=TrialState.FAIL)
    stored = optuna.load_study(study_name="c", storage=url).get_trials()[0]
    assert stored.state == TrialState.FAIL and stored.params == trial.params


def test_a_trial_failed_by_another_worker_is_not_served_from_memory(url):
    """A stale heartbeat lets another worker FAIL our trial: our next write raises as without the cache,
    and tell finds the trial finished."""
    study = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c")
    trial = study.ask()
    trial.suggest_int("layers", 1, 4)
    trial.report(0.3, 1)
    other = open_storage(url, None)
    assert other.set_trial_state_values(trial_id_of(trial), TrialState.FAIL)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        trial.report(0.2, 2)
    study.tell(trial, 0.2, skip_if_finished=True)  # the copy was dropped: tell reads FAIL and skips
    assert storage_of(study).get_trial(trial_id_of(trial)).state == TrialState.FAIL


def test_an_enqueued_trial_taken_by_ask_is_cached_after_its_first_read(url):
    rdb = open_storage(url, None)
    study = optuna.create_study(storage=OwnTrialsCache(rdb), study_name="c")
    study.enqueue_trial({"layers": 3})
    calls = _counting(rdb)
    frozen = _trial(study)
    assert frozen.params["layers"] == 3 and frozen.state == TrialState.COMPLETE
    assert calls["get_trial"] == 2, calls  # the first read after taking it from the queue, and after tell


def test_an_incompatible_distribution_still_fails_the_trial_and_stores_its_state(url):
    study = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c")
    _trial(study)
    trial = study.ask()
    with pytest.raises(ValueError):
        trial.suggest_categorical("layers", ["a", "b"])  # an int range in the study so far
    study.tell(trial, state=TrialState.FAIL)
    assert optuna.load_study(study_name="c", storage=url).get_trials()[-1].state == TrialState.FAIL


def test_a_read_of_the_trials_is_reused_only_briefly_and_never_past_this_process_s_own_write(url, monkeypatch):
    import tuner.optuna_adapter as adapter

    rdb = open_storage(url, None)
    study = optuna.create_study(storage=OwnTrialsCache(rdb), study_name="c")
    other = optuna.load_study(study_name="c", storage=url)
    calls = _counting(rdb)
    monkeypatch.setattr(adapter, "REUSE_READ_SECONDS", 3600.0)  # "briefly" without timing the test
    study.get_trials()
    study.get_trials()
    assert calls["_get_trials"] == 1, calls
    _trial(study)  # our own writes are seen at once
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]
    other.enqueue_trial({"layers": 2})  # another process's: only once the read is old enough
    assert len(study.get_trials()) == 1
    monkeypatch.setattr(adapter, "REUSE_READ_SECONDS", 0.0)
    assert len(study.get_trials()) == 2


@pytest.mark.parametrize("trial_note", [False, True])
def test_a_note_is_written_in_one_transaction_as_the_dashboard_writes_it(url, tmp_path, trial_note):
    from optuna_dashboard._note import save_note_with_version

    long, short = "x" * 5000 + "end", "short"  # 3 chunks of 2,045 characters, then 1
    stores = {}
    for name, rdb in (("ours", open_storage(url, None)), ("dashboard", open_storage(f"sqlite:///{tmp_path}/d.db", None))):
        study = optuna.create_study(storage=OwnTrialsCache(rdb), study_name="n")
        trial_id = trial_id_of(study.ask()) if trial_note else None
        calls = _counting(rdb)
        for version, body in ((1, long), (2, short)):
            if name == "ours":
                write_note(rdb, study_id_of(study), trial_id, version, body)
            else:
                save_note_with_version(rdb, study_id_of(study), trial_id, version, body)
        if name == "ours":
            assert sum(calls.values()) == 0, calls  # no Optuna storage call: one statement pair per note
        stores[name] = (rdb.get_study_system_attrs(study_id_of(study)), read_note(rdb, study_id_of(study), trial_id))
    assert stores["ours"] == stores["dashboard"]
    assert stores["ours"][1] == {"version": 2, "body": "short"}


def test_the_cache_pickles_like_optuna_s_own(url):
    import pickle

    study = optuna.create_study(storage=OwnTrialsCache(open_storage(url, None)), study_name="c")
    _trial(study)
    copy_ = pickle.loads(pickle.dumps(storage_of(study)))
    assert [t.state for t in copy_.get_all_trials(study_id_of(study))] == [TrialState.COMPLETE]
