"""How many CPU threads a command uses when nobody says: the cores nobody else is using.

torch's own default is every core of the machine. A `stocktune fit --final` started next to a running
study then fights its workers for the same cores: OpenMP threads spin at barriers waiting for a core
another process holds: the refit ran 6.6x slower than with one thread next to two workers on 2 cores
(35-70x at a heavier load; bench/README.md, "Threads of fit, evaluate and predict"). So `fit`,
`evaluate` and `predict` always set torch's thread count, by this rule:

1. ``--threads T`` on the command line;
2. else the run file's ``[train] threads`` (`fit` only);
3. else ``$OMP_NUM_THREADS`` when it is set;
4. else the free cores: the cores this process may use (its CPU affinity, lowered to a cgroup CPU
   quota such as ``docker run --cpus``) minus the machine's 1-minute load average (rounded), at
   least 1 and at most ``THREADS_CAP``.

The load average lags by tens of seconds and, in a container, counts the whole host; both err on
the side of fewer threads.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from . import env
from .errors import InputError

__all__ = ["THREADS_CAP", "available_cores", "default_threads", "resolve_threads"]

# the small recurrent networks trained here gain little beyond this many intra-op threads
THREADS_CAP = 8


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 ``cpu.max``, v1 ``cfs_quota_us``), else None."""
    try:
        parts = (root / "cpu.max").read_text().split()
        if len(parts) == 2 and parts[0] != "max":
            return int(parts[0]) / int(parts[1])
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Rules 3-4 above: ``$OMP_NUM_THREADS``, else the free cores (1 .. THREADS_CAP)."""
    omp = (env.get("OMP_NUM_THREADS") or "").strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    cores = available_cores() if cores is None else cores
    load = _load_average() if load is None else load
    busy = min(cores, math.floor(load + 0.5))
    return max(1, min(THREADS_CAP, cores - busy))


def resolve_threads(flag: int | None, configured: int | None = None) -> int:
    """The thread count of a command: ``--threads`` (checked), else ``configured``, else the default."""
    if flag is not None:
        if flag < 1:
            raise InputError(f"--threads must be >= 1, but got --threads {flag}.")
        return flag
    return configured if configured is not None else default_threads()
