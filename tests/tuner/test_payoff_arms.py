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
