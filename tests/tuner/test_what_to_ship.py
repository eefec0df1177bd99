"""One recommendation policy: `export`'s warning and `bench/payoff.py`'s ``recommended`` arm both come
from ``what_to_ship`` (the winner when (b) says better than the defaults, else the ensemble of a confirmed
study, else the defaults)."""
from types import SimpleNamespace

import pytest

from tuner.export import SHIP_DEFAULTS, SHIP_ENSEMBLE, SHIP_WINNER, verdict_warnings, what_to_ship
from tuner.verdict import AHEAD_NO_SKILL, BETTER, NO_DEFAULTS, SAME, WINNER_IS_DEFAULTS, WORSE


def _verdict(outcome: str, confirmed: bool = False) -> SimpleNamespace:
    return SimpleNamespace(winner=4, confirmed=confirmed, baselines=SimpleNamespace(beats=True),
                           defaults=SimpleNamespace(outcome=outcome, defaults_trial=0))


@pytest.mark.parametrize("outcome, ship", [(BETTER, SHIP_WINNER), (SAME, SHIP_DEFAULTS), (WORSE, SHIP_DEFAULTS),
                                           (WINNER_IS_DEFAULTS, SHIP_DEFAULTS), (NO_DEFAULTS, SHIP_WINNER),
                                           (AHEAD_NO_SKILL, SHIP_DEFAULTS)])
def test_the_warning_says_what_the_policy_ships(outcome, ship):
    v = _verdict(outcome)
    assert what_to_ship(v) == ship
    said = " ".join(verdict_warnings(v, "s.toml", exported_defaults=False))
    if ship == SHIP_DEFAULTS:  # the warning names the defaults as what to ship
        assert "ship" in said and ("--defaults" in said or "default configuration" in said), said
    else:
        assert "--defaults" not in said, said
    assert verdict_warnings(v, "s.toml", exported_defaults=True) == []  # the defaults were exported: nothing to add


@pytest.mark.parametrize("outcome, ship", [(BETTER, SHIP_WINNER), (SAME, SHIP_ENSEMBLE), (WORSE, SHIP_ENSEMBLE),
                                           (WINNER_IS_DEFAULTS, SHIP_ENSEMBLE), (NO_DEFAULTS, SHIP_WINNER),
                                           (AHEAD_NO_SKILL, SHIP_ENSEMBLE)])
def test_a_confirmed_study_ships_the_ensemble_unless_the_winner_is_shown_better(outcome, ship):
    v = _verdict(outcome, confirmed=True)
    assert what_to_ship(v) == ship
    said = " ".join(verdict_warnings(v, "s.toml", exported_defaults=False))
    assert ("stocktune export s.toml --ensemble" in said) == (ship == SHIP_ENSEMBLE), said
    # the defaults exported by hand: the recommendation is still named
    said = " ".join(verdict_warnings(v, "s.toml", exported_defaults=True))
    assert ("--ensemble" in said) == (ship == SHIP_ENSEMBLE), said


def test_no_verdict_ships_the_winner():
    assert what_to_ship(None) == SHIP_WINNER
