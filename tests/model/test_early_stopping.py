"""Early stopping: the rule on scripted sequences, and the trainer stopping, checkpointing and resuming."""
from __future__ import annotations

import pytest
from _harness import tiny_cfg

import model
from model import train
from model.checkpoint import load_checkpoint
from model.early_stopping import last_improvement, should_stop


@pytest.mark.parametrize("values, patience, min_delta, min_epochs, stop_after", [
    ([0.30, 0.28, 0.29, 0.29, 0.29], 2, 0.0, 1, 4),  # best at 2, two epochs without a gain
    ([0.30, 0.28, 0.279, 0.2785, 0.278], 2, 0.005, 1, 4),  # gains below min_delta do not count
    ([0.30, 0.28, 0.279, 0.2785, 0.278], 2, 0.0, 1, None),  # without min_delta they do
    ([0.30, 0.31, 0.32, 0.33], 1, 0.0, 3, 3),  # not before min_epochs
    ([0.30, 0.31, 0.32, 0.33], 0, 0.0, 1, None),  # patience 0: off
    ([float("nan"), 0.30, 0.31, 0.32], 2, 0.0, 1, 4),  # a NaN epoch is no improvement
])
def test_should_stop_on_scripted_sequences(values, patience, min_delta, min_epochs, stop_after):
    first = next((n for n in range(1, len(values) + 1)
                  if should_stop(values[:n], patience, min_delta, min_epochs)), None)
    assert first == stop_after


def test_maximized_metrics_improve_upwards():
    assert last_improvement([0.01, 0.03, 0.02], maximize=True) == 2
    assert should_stop([0.01, 0.03, 0.02, 0.025], patience=2, maximize=True)
    assert not should_stop([0.01, 0.03, 0.02, 0.035], patience=2, maximize=True)


SCRIPT = [0.30, 0.27, 0.26, 0.265, 0.27, 0.28, 0.29, 0.30, 0.31, 0.32]  # best epoch 3


@pytest.fixture()
def scripted(monkeypatch):
    """val_mae per epoch follows SCRIPT, whatever the network learns."""
    real = train.regression_metrics
    calls = []

    def metrics(*a, **k):
        m = real(*a, **k)
        calls.append(len(calls) + 1)
        m["val_mae"] = SCRIPT[len(calls) - 1]
        return m

    monkeypatch.setattr(train, "regression_metrics", metrics)
    return calls


def test_fit_stops_after_patience_and_keeps_the_best_epoch(dataset, scripted, tmp_path):
    seen = []
    r = model.fit(dataset, tiny_cfg(epochs=10, patience=2), on_epoch=lambda e, m: seen.append(e),
                  checkpoint_path=tmp_path / "c.pt")
    assert seen == [1, 2, 3, 4, 5] and len(r.history) == 5
    assert r.stopped_early and r.best_epoch == 3 and r.best_metrics["val_mae"] == 0.26
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["stopped_early"] is True and ckpt["epoch"] == 5 and ckpt["best_epoch"] == 3


def test_a_stopped_run_resumes_as_stopped(dataset, scripted, tmp_path):
    """A worker killed after the stop (before it reported the trial) resumes to the same result and
    trains nothing more: the checkpoint knows it stopped."""
    first = model.fit(dataset, tiny_cfg(epochs=10, patience=2), checkpoint_path=tmp_path / "c.pt")
    seen = []
    again = model.fit(dataset, tiny_cfg(epochs=10, patience=2), on_epoch=lambda e, m: seen.append(e),
                      checkpoint_path=tmp_path / "c.pt", resume_from=tmp_path / "c.pt")
    assert seen == [] and again.stopped_early
    assert (again.best_epoch, len(again.history)) == (first.best_epoch, len(first.history)) == (3, 5)
    for k, v in first.model.state_dict().items():
        assert (again.model.state_dict()[k] == v).all(), k


def test_a_run_interrupted_before_the_stop_resumes_and_stops_at_the_same_epoch(dataset, scripted, tmp_path):
    cfg = tiny_cfg(epochs=10, patience=2)
    model.fit(dataset, cfg, on_epoch=lambda e, m: e < 4, checkpoint_path=tmp_path / "c.pt")  # killed after 4
    r = model.fit(dataset, cfg, checkpoint_path=tmp_path / "c.pt", resume_from=tmp_path / "c.pt")
    assert r.stopped_early and len(r.history) == 5 and r.best_epoch == 3


def test_the_monitor_picks_the_best_epoch(dataset, scripted):
    r = model.fit(dataset, tiny_cfg(epochs=4, monitor="val_rmse"))
    rmse = [h["val_rmse"] for h in r.history]
    assert r.best_epoch == 1 + rmse.index(min(rmse)) and not r.stopped_early
