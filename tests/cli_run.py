"""The one way tests run the `stocktune` command: `python -m cli` in a subprocess.

PYTHONPATH puts this checkout first, so the subprocess runs the code under test (also from a git
worktree next to an editable install of another checkout).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "cli_env", "cli_command", "stocktune", "start"]


def cli_env(env: dict[str, str] | None = None, cache: Path | None = None) -> dict[str, str]:
    """os.environ + ``env`` (+ STOCKTUNE_CACHE=cache), one CPU thread, this checkout on PYTHONPATH."""
    out = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    if cache is not None:
        out["STOCKTUNE_CACHE"] = str(cache)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [out.get("PYTHONPATH")])])
    return out


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def stocktune(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, cache: Path | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `stocktune ARGS` to the end; stdout and stderr captured as text."""
    return subprocess.run(cli_command(*args), cwd=cwd or ROOT, env=cli_env(env, cache), capture_output=True,
                          text=True, timeout=timeout)


def start(*args: str, log: Path, cwd: Path | None = None, env: dict[str, str] | None = None,
          cache: Path | None = None) -> subprocess.Popen:
    """Start `stocktune -v ARGS` in its own session, output appended to ``log``; stop it with _study.reap."""
    with open(log, "ab") as fh:
        return subprocess.Popen(cli_command("-v", *args), cwd=cwd or ROOT, env=cli_env(env, cache), stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
