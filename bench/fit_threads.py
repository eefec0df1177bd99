"""`stocktune fit --final` next to a running study: its default threads vs --threads 1 vs torch's default.

Starts WORKERS background `stocktune worker` processes (1 thread each, what `launch` gives them on a
2-core machine) on a throwaway copy of a study, waits for its first COMPLETE trial, exports it, and
then times `stocktune fit --config best.toml --final --epochs E` with each thread setting while the
workers keep training; the settings are interleaved, REPS runs each. Prints every run (wall clock
including the start-up of the process, the thread count fit used, the 1-minute load average at its
start), the medians and the machine. The workers are stopped (by pid) at the end, whatever happens.

Settings: `default` (no --threads, OMP_NUM_THREADS unset: the rule of common/cpus.py), a number T
(`--threads T`). `--threads <cores>` is what fit did before it set threads itself (torch's default).

    python bench/fit_threads.py                                        # default:3,1:3 on studies/sample.toml
    python bench/fit_threads.py --settings default:3,1:3,2:1 --epochs 2
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def environ(root: Path, omp: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(STOCKTUNE_CACHE=str(root / "cache"), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=str(ROOT / "studies" / "sample.toml"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--settings", default="default:3,1:3", help="SETTING:REPS,... (SETTING: default or a number)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of each fit --final")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before one fit is stopped and counted as >")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = [(s.split(":")[0], int(s.split(":")[1]) if ":" in s else 3) for s in args.settings.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bench-fit-threads-"))
    url = f"sqlite:///{root}/study.db"
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, affinity "
          f"{len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f} at start; work dir {root}")
    subprocess.run(cli("prep", "--config", args.study, "--quiet"), cwd=root, env=environ(root, "1"), check=True,
                   stdout=subprocess.DEVNULL)
    workers = []
    try:
        for i in range(args.workers):
            with open(root / f"worker-{i}.log", "ab") as log:
                workers.append(subprocess.Popen(
                    cli("worker", args.study, "--storage", url, "--n-trials", "100000", "--threads", "1"),
                    cwd=root, env=environ(root, "1"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        print(f"{args.workers} workers started (1 thread each): pids {[w.pid for w in workers]}")
        while True:  # the first COMPLETE trial is the config to refit
            time.sleep(5)
            try:
                study = optuna.load_study(study_name=None, storage=url)
                if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
                    break
            except Exception:  # noqa: BLE001 - the study may not exist yet
                pass
            if any(w.poll() is not None for w in workers):
                raise SystemExit(f"a worker exited; see {root}/worker-*.log")
        subprocess.run(cli("export", args.study, "--storage", url, "--out", str(root / "best.toml")), cwd=root,
                       env=environ(root, "1"), check=True, stdout=subprocess.DEVNULL)
        print(f"exported {root / 'best.toml'}; fit --final --epochs {args.epochs} while the workers train\n")
        print(f"{'setting':>8}  {'threads':>7}  {'load':>5}  {'wall s':>8}")
        walls: dict[str, list[float]] = {s: [] for s, _ in settings}
        for rep in range(max(r for _, r in settings)):
            for setting, reps in settings:
                if rep >= reps:
                    continue
                flags = [] if setting == "default" else ["--threads", setting]
                load = os.getloadavg()[0]
                t0 = time.monotonic()
                try:
                    r = subprocess.run(cli("fit", "--config", str(root / "best.toml"), "--final", "--quiet", "--epochs",
                                           str(args.epochs), "--out", str(root / f"final-{setting}-{rep}"), *flags),
                                       cwd=root, env=environ(root, None), capture_output=True, text=True,
                                       timeout=args.timeout)
                    wall, used = time.monotonic() - t0, re.search(r"threads (\d+)\)", r.stdout)
                    if r.returncode != 0:
                        raise SystemExit(r.stdout + r.stderr)
                    shown = f"{wall:8.1f}"
                except subprocess.TimeoutExpired:
                    wall, used, shown = args.timeout, None, f"> {args.timeout:.0f}"
                walls[setting].append(wall)
                print(f"{setting:>8}  {used.group(1) if used else '?':>7}  {load:5.2f}  {shown:>8}", flush=True)
        print("\nmedians: " + ", ".join(f"{s}: {statistics.median(w):.1f} s ({len(w)} runs)" for s, w in walls.items()))
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
