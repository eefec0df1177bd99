"""How a long command ends when stopped: the stop lines on stderr and the exit code (see tuner/signals.py).

Each command installs one ``StopFlag`` for its whole run, so a signal in any phase is seen and no next
phase starts; ``finish`` prints what was finished and the one command that resumes (the same command
with the same overrides), and returns 128 + the signal's number.
"""
from __future__ import annotations

import argparse
import shlex
import sys

__all__ = ["resume_command", "finish"]

# the overrides a resumed command must repeat, as (flag, attribute); --storage is shown masked
_OVERRIDES = (("--workers", "workers"), ("--workers-per-gpu", "workers_per_gpu"), ("--n-trials", "n_trials"),
              ("--timeout", "timeout"), ("--threads", "threads"), ("--top-k", "top_k"), ("--seeds", "seeds"),
              ("--storage", "storage"))


def resume_command(args: argparse.Namespace, subcommand: str) -> str:
    """`stocktune SUBCOMMAND STUDY` with the overrides given on this command line (a password masked)."""
    from tuner.urls import mask_url

    words = ["stocktune", subcommand, str(args.study)]
    for flag, attr in _OVERRIDES:
        value = getattr(args, attr, None)
        if value is not None:
            words += [flag, mask_url(value) if attr == "storage" else str(value)]
    return " ".join(shlex.quote(w) for w in words)


def finish(stop, cfg, args: argparse.Namespace, subcommand: str, phase: str,
           confirm: tuple[int, int] | None = None) -> int:
    """Print the stop lines of a stopped ``subcommand`` and return its exit code (130 / 143)."""
    import signal

    from tuner.signals import exit_code_of
    from tuner.stopped import stopped_lines

    sys.stdout.flush()
    lines = stopped_lines(cfg, stop.signal_name, phase, resume_command(args, subcommand), confirm=confirm)
    print("\n".join(lines), file=sys.stderr, flush=True)
    return stop.exit_code or exit_code_of(signal.SIGINT)  # set by code, not by a signal: as Ctrl-C
