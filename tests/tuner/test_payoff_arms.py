"""bench/payoff.py's arms: ``recommended`` ships what ``what_to_ship`` says (the winner only when (b) says
better than the defaults), and results of processes run side by side summarize together only when
their settings agree."""
import json

import pytest

from bench.payoff import ARMS, summarize_files
from tuner.export import SHIP_DEFAULTS, SHIP_ENSEMBLE, SHIP_WINNER


def _studies(ship: str) -> dict:
    folds = {"epochs": 100, "ship": ship, "verdict": "v", "verdict_defaults": "d",
             "winner": {"file": "w"}, "defaults": {"file": "d"}, "ensemble": {"file": "e"}}
    return {"folds": folds, "single": {**folds, "winner": {"file": "s"}}}


@pytest.mark.parametrize("ship, recommended, recommended_ens",
                         [(SHIP_WINNER, "w", "e"), (SHIP_ENSEMBLE, "e", "d"), (SHIP_DEFAULTS, "d", "d")])
def test_recommended_follows_the_product_policy(ship, recommended, recommended_ens):
    s = _studies(ship)
    assert ARMS["recommended"](s)[0]["file"] == recommended
    assert ARMS["recommended_ens"](s)[0]["file"] == recommended_ens
    assert ARMS["recommended"](s)[1] == 100  # the search was spent whatever ships
    assert ARMS["defaults"](s)[1] is None  # the defaults' compute is their own trial only


def test_summarize_re_picks_recommended_with_today_s_policy():
    """A row scored under an earlier policy (recommended = the defaults) reads as today's: a confirmed
    study whose winner is not shown better ships the ensemble; one shown better ships the winner."""
    from bench.payoff import current_policy

    arm = {"verdict": "v", "verdict_defaults": "d"}
    row = {"defaults": {"ic": 0.10, "skill": 0.01, "trial": 0}, "winner": {"ic": 0.08, **arm},
           "ensemble": {"ic": 0.12, **arm}, "recommended": {"ic": 0.10, **arm},
           "verdict_json": {"confirmed": True, "defaults": {"outcome": "not distinguishable from the defaults"}}}
    assert current_policy(row)["recommended"]["ic"] == 0.12
    row["verdict_json"]["defaults"]["outcome"] = "better than the defaults"
    assert current_policy(row)["recommended"]["ic"] == 0.08
    row["verdict_json"] = {"confirmed": False, "defaults": {"outcome": "not distinguishable from the defaults"}}
    assert current_policy(row)["recommended"]["ic"] == 0.10


def test_summarize_refuses_files_of_other_settings(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"settings": {"n_trials": 6}, "markets": {}}))
    b.write_text(json.dumps({"settings": {"n_trials": 12}, "markets": {}}))
    with pytest.raises(SystemExit, match="different settings"):
        summarize_files([a, b])
    summarize_files([a, a])  # the same settings: fine (no markets, no table)
    assert "settings" in capsys.readouterr().out


def test_reverdict_recomputes_each_arm_s_verdict_from_its_kept_study(tmp_path, monkeypatch, capsys):
    """--reverdict: the folds study's verdict goes to the arms it judges (and verdict_json), the
    one-window study's to ``single``; a market whose studies were not kept stays as it was, and says so."""
    from types import SimpleNamespace

    import bench.payoff as payoff

    for kind in ("single", "folds"):
        (tmp_path / "a-1" / f"{kind}-1-9").mkdir(parents=True)
        (tmp_path / "a-1" / f"{kind}-1-9" / "study.toml").write_text("")

    def verdict(cfg, study):
        a = SimpleNamespace(outcome=f"beats ({cfg.validation.folds} folds)")
        return SimpleNamespace(baselines=a, defaults=SimpleNamespace(outcome="d"),
                               to_json=lambda: {"folds": cfg.validation.folds})

    monkeypatch.setattr(payoff, "load_study_config", lambda p: SimpleNamespace(name="s", storage="x"))
    monkeypatch.setattr(payoff.dataclasses, "replace", lambda c, **kw: SimpleNamespace(**vars(c), **kw))
    monkeypatch.setattr(payoff.optuna, "load_study", lambda **kw: None)
    monkeypatch.setattr(payoff, "study_verdict", verdict)
    old = {arm: {"ic": 0.1, "verdict": "old"} for arm in ARMS}
    doc = {"settings": {"folds": 3}, "markets": {"a-1": {**json.loads(json.dumps(old)), "verdict_json": None},
                                                 "a-2": {**json.loads(json.dumps(old)), "verdict_json": None}}}
    out = payoff.reverdict(doc, tmp_path)
    row = out["markets"]["a-1"]
    assert row["single"]["verdict"] == "beats (1 folds)" and row["verdict_json"] == {"folds": 3}
    assert {row[a]["verdict"] for a in payoff.FOLDS_ARMS} == {"beats (3 folds)"}
    assert row["defaults"]["verdict"] == "old" and row["winner"]["ic"] == 0.1
    assert out["markets"]["a-2"]["winner"]["verdict"] == "old"
    assert "a-2: no kept folds study" in capsys.readouterr().err
