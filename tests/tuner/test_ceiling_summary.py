"""bench/ceiling.py --summarize: configurations paired with the first row on the same markets, the best
row per market chosen on the test period (a bound), and the leave-one-market-out choice."""
from bench.ceiling import summarize


def _row(seed: int, config: dict, ic: float) -> dict:
    return {"seed": seed, "config": config, "ic": ic, "oracle_ic": 0.2}


def test_the_bound_and_the_leave_one_out_choice(capsys):
    base, wide = {"learning_rate": 1e-3}, {"hidden_dim": 32}
    # wide is better on markets 1 and 2, far worse on 3
    rows = [_row(1, base, 0.10), _row(2, base, 0.10), _row(3, base, 0.16),
            _row(1, wide, 0.16), _row(2, wide, 0.14), _row(3, wide, 0.08)]
    summarize(rows)
    out = capsys.readouterr().out
    assert "3 planted markets (1, 2, 3)" in out
    assert "| 80% / 70% / 40% | +0.0067 ± 0.0437 (2/0/1) |" in out
    assert "chosen on the test period (a bound): median 80% (80% / 70% / 80%)" in out
    # market 1: the others (2, 3) favour base (65 % vs 55 %) -> 50 %; market 2: the others (1, 3) favour
    # base (65 % vs 60 %) -> 50 %; market 3: the others (1, 2) favour wide (75 % vs 50 %) -> 40 %
    assert "leave one market out): median 50% (50% / 50% / 40%)" in out


def test_a_configuration_run_on_fewer_markets_is_paired_on_those_only(capsys):
    base, extra = {"learning_rate": 1e-3}, {"epochs": 32}
    rows = [_row(1, base, 0.10), _row(2, base, 0.12), _row(1, extra, 0.11)]
    summarize(rows)
    out = capsys.readouterr().out
    assert '| {"epochs": 32} | 1 | 55% | 55% | +0.0100 ± ' in out
    assert "the best of the 1 rows per market" in out  # the bound uses rows run on every market


def test_a_seed_ensemble_gets_its_own_row(capsys):
    base = {"learning_rate": 1e-3}
    rows = [{**_row(1, base, 0.10), "member_ics": [0.1, 0.11, 0.12], "ensemble_ic": 0.13},
            {**_row(2, base, 0.12), "member_ics": [0.1, 0.11, 0.12], "ensemble_ic": 0.14}]
    summarize(rows)
    out = capsys.readouterr().out
    assert '| {"learning_rate": 0.001}, the average of 3 seeds | 2 | 68% | 65% / 70% | +0.0250 ± 0.0050 (2/0/0) |' in out


def test_markets_of_another_size_are_other_markets(capsys):
    base = {"learning_rate": 1e-3}
    small = "synthetic:tickers=60,days=1500,seed=1,pattern=0.1"
    rows = [{**_row(1, base, 0.10), "market": small}, {**_row(1, base, 0.16), "market": small.replace("1500", "3000")}]
    summarize(rows)
    assert "| 2 | 65% | 50% / 80% |" in capsys.readouterr().out  # not one market whose row was overwritten
