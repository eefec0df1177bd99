"""Count options (issue 19, item 3): 0 or a negative value exits 2 naming the flag, in every subcommand,
through one argparse type (cli/numbers.py); a default lives in its config dataclass and the help reads it."""
from __future__ import annotations

import argparse

import pytest
from cli_run import stocktune

from cli.main import COMMANDS, build_parser, main
from cli.numbers import count

# subcommand, its required arguments, its count flags
COUNTS = [
    ("worker", ["s.toml"], ["--n-trials", "--threads"]),
    ("launch", ["s.toml"], ["--workers", "--workers-per-gpu", "--n-trials", "--threads"]),
    ("tune", ["s.toml"], ["--workers", "--workers-per-gpu", "--n-trials", "--threads"]),
    ("confirm", ["s.toml"], ["--top-k", "--seeds", "--threads"]),
    ("export", ["s.toml"], ["--top-k"]),
    ("fit", ["--config", "run.toml"], ["--epochs", "--threads"]),
    ("evaluate", ["model"], ["--controls", "--threads", "--bins"]),
    ("predict", ["model", "--data", "sample"], ["--top", "--threads"]),
]
# integers that are not counts: 0 means something (a free port) or any value is fine (an index, a seed)
NOT_COUNTS = {"--worker-index", "--port", "--control-seed"}


@pytest.mark.parametrize("value", ["0", "-3"])
@pytest.mark.parametrize(("command", "required", "flag"),
                         [(c, r, f) for c, r, flags in COUNTS for f in flags])
def test_a_count_of_zero_or_less_exits_2_naming_the_flag(command, required, flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, *required, flag, value])
    assert e.value.code == 2
    assert f"argument {flag}: must be a whole number >= 1, but got {value}" in capsys.readouterr().err


def test_every_integer_option_is_a_count_or_named_as_not_one():
    for name in COMMANDS:
        sub = next(a for a in build_parser(only=name)._actions if isinstance(a, argparse._SubParsersAction))
        for action in sub.choices[name]._actions:
            if action.type is int:
                assert set(action.option_strings) & NOT_COUNTS, f"{name} {action.option_strings}: use cli.numbers.count"
    assert {f for _, _, flags in COUNTS for f in flags} >= {"--top-k", "--seeds", "--workers", "--threads"}


def test_count_takes_whole_positive_numbers():
    assert count("1") == 1 and count("12") == 12
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        count("2.5")


def test_confirm_top_k_0_is_refused_not_read_as_the_default(tmp_path):
    # the example: `confirm --top-k 0` silently meant 5
    r = stocktune("confirm", str(tmp_path / "no.toml"), "--top-k", "0", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "argument --top-k: must be a whole number >= 1, but got 0" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_the_help_shows_the_defaults_of_the_config_dataclasses(capsys):
    from tuner.study_config import ConfirmConfig, WorkerConfig

    for argv in (["confirm", "--help"], ["launch", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert f"[confirm] top_k, else {ConfirmConfig().top_k}" in out and f"seeds, else {ConfirmConfig().seeds}" in out
    assert f"n_workers of the study, else {WorkerConfig().n_workers}" in out
