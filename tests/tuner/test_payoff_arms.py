"""bench/payoff.py's arms: ``recommended`` ships what ``what_to_ship`` says (the winner only when (b) says
better than the defaults), and results of processes run side by side summarize together only when
their settings agree."""
import json

import pytest

from bench.payoff import ARMS, summarize_files
from tuner.export import SHIP_DEFAULTS, SHIP_WINNER


def _studies(ship: str) -> dict:
    folds = {"epochs": 100, "ship": ship, "verdict": "v", "verdict_defaults": "d",
             "winner": {"file": "w"}, "defaults": {"file": "d"}, "ensemble": {"file": "e"}}
    return {"folds": folds, "single": {**folds, "winner": {"file": "s"}}}


@pytest.mark.parametrize("ship, recommended, recommended_ens", [(SHIP_WINNER, "w", "e"), (SHIP_DEFAULTS, "d", "d")])
def test_recommended_follows_the_product_policy(ship, recommended, recommended_ens):
    s = _studies(ship)
    assert ARMS["recommended"](s)[0]["file"] == recommended
    assert ARMS["recommended_ens"](s)[0]["file"] == recommended_ens
    assert ARMS["recommended"](s)[1] == 100  # the search was spent whatever ships
    assert ARMS["defaults"](s)[1] is None  # the defaults' compute is their own trial only


def test_summarize_refuses_files_of_other_settings(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"settings": {"n_trials": 6}, "markets": {}}))
    b.write_text(json.dumps({"settings": {"n_trials": 12}, "markets": {}}))
    with pytest.raises(SystemExit, match="different settings"):
        summarize_files([a, b])
    summarize_files([a, a])  # the same settings: fine (no markets, no table)
    assert "settings" in capsys.readouterr().out
