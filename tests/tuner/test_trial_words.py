"""Interrupted is not failed (issue 19, item 2): a trial stopped and re-queued (Optuna: FAIL with a WAITING
copy) is counted as *interrupted* by the one rule in tuner/trials.py, and so in `status` (text and JSON,
which keeps both counts), the progress bar, the study note and `export`; *failed* means an error."""
from __future__ import annotations

import json

import optuna
from _study import write_study
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from test_story import _prep

from tuner import story
from tuner.export import export_best
from tuner.launcher import _progress_counts
from tuner.status import format_status, study_status
from tuner.storage import retry_callback
from tuner.study_config import load_study_config
from tuner.trials import INTERRUPTED, interrupted_numbers, state_counts

DIST = {"learning_rate": FloatDistribution(1e-3, 1e-2, log=True)}
STOPPED = "interrupted: stopped by SIGTERM; re-queued to resume from its checkpoint"


def _make(cfg):
    """0, 1 complete; 2 stopped and re-queued (3); 4 an error; 5 vanished (no heartbeat) and re-queued (6);
    7 stopped but past its retries (not re-queued): an error to look at, since nothing resumes it."""
    study = optuna.create_study(study_name=cfg.name, storage=cfg.storage, direction=cfg.direction)

    def add(state, reason=None, value=None, requeue=False):
        study.add_trial(optuna.create_trial(state=state, value=value, params={"learning_rate": 2e-3},
                                            distributions=DIST,
                                            user_attrs={"fail_reason": reason} if reason else {}))
        if requeue:
            retry_callback()(study, study.get_trials()[-1])

    add(TrialState.COMPLETE, value=0.3)
    add(TrialState.COMPLETE, value=0.2)
    add(TrialState.FAIL, STOPPED, requeue=True)
    add(TrialState.FAIL, "NonFiniteLoss: boom")
    add(TrialState.FAIL, requeue=True)
    add(TrialState.FAIL, STOPPED)
    return study


def test_stopped_and_requeued_trials_count_as_interrupted_everywhere(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    study = _make(cfg)
    trials = study.get_trials()
    assert [t.state for t in trials].count(TrialState.FAIL) == 4  # what Optuna (and its dashboard) store
    assert interrupted_numbers(trials) == {2, 5}
    counts = state_counts(trials)
    assert (counts[INTERRUPTED], counts["FAIL"], counts["WAITING"], counts["COMPLETE"]) == (2, 2, 2, 2)

    s = study_status(cfg)
    data = json.loads(json.dumps(s.to_json(), default=str))
    assert data["counts"][INTERRUPTED] == 2 and data["counts"]["FAIL"] == 2  # the JSON keeps both
    assert sorted(f.number for f in s.failed) == [4, 7]  # the interrupted ones are no failure
    text = format_status(s)
    assert "trials: 2 complete, 0 pruned, 0 running, 2 waiting, 2 interrupted, 2 failed" in text

    done, words, best = _progress_counts(study, cfg.direction)
    assert done == 2 and words == "running=0 interrupted=2 failed=2" and best == 0.2

    [path] = export_best(cfg, tmp_path / "best.toml").paths
    assert "# trials: 2 complete, 0 pruned, 0 running, 2 waiting, 2 interrupted, 2 failed" in path.read_text()


def test_the_study_note_counts_interrupted_trials(tmp_path):
    cfg = load_study_config(write_study(tmp_path))
    study = _make(cfg)
    story.on_study_done(study, cfg, _prep(tmp_path), None, None)
    from optuna_dashboard import get_note

    assert "Trials: 2 complete, 0 pruned, 0 running, 2 waiting, 2 interrupted, 2 failed." in get_note(study)
