"""Search strategies side by side: the skill each one finds per epoch of compute, and storage overhead.

For each dataset (the bundled sample, and a synthetic market with a planted signal whose validation
rank IC is ~0.03-0.10) and each sampler seed, runs one in-process worker per strategy on a fresh
SQLite file with the same study, sampler seed and trial budget. A strategy is a pruner (none, median,
successive halving, hyperband) with or without early stopping (patience); "none" without early
stopping is the baseline. Prints per strategy the medians over seeds of: epochs trained (and their
ratio to the baseline), wall time, the best trial's validation skill vs always-0.5 (absolute and as a
fraction of the baseline's), its validation rank IC, and the share of the worker's wall time spent
in storage calls (main thread: the heartbeat thread does not block training). Writes a PNG per
dataset: the best skill so far against cumulative epochs, one line per strategy (median over seeds).

Targets: P4, a default that trains <= 1/3 of the baseline's epochs and keeps >= 90% of its best skill
(medians, both datasets); P5, storage <= 1% of the worker's wall time on the sample.

    python bench/study.py --n-trials 10 --samples 2048   # 3 seeds x 8 strategies x 2 datasets (~1.5 h)
    python bench/study.py --quick              # 1 seed, 4 strategies, 6 trials: a few minutes
    python bench/study.py --strategies none,median+es --seeds 1,2,3 --out runs/bench-study
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.storages import RDBStorage
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tuner.optuna_adapter as adapter  # noqa: E402
from data_prep.folds import FoldConfig  # noqa: E402
from tuner.signals import StopFlag  # noqa: E402
from tuner.study_config import PrunerConfig, load_study_config  # noqa: E402
from tuner.worker import run_worker  # noqa: E402

DATASETS = {"sample": "sample", "planted": "synthetic:tickers=40,days=2000,seed=3,signal=0.4"}
STRATEGIES = ("none", "es", "median", "median+es", "successive_halving", "successive_halving+es",
              "hyperband", "hyperband+es")
QUICK = ("none", "es", "median+es", "successive_halving+es")


class StorageClock:
    """Wall time of storage calls made from the main thread (outermost call only): every RDBStorage
    method, and the adapter's own storage functions (they batch attributes and params outside them).
    Reads that the worker's OwnTrialsCache serves from memory are no storage calls."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self.by_method: collections.Counter[str] = collections.Counter()  # outermost calls per method name
        self._depth = threading.local()
        self._originals: list[tuple[object, str, object]] = []

    def install(self) -> None:
        for name, fn in vars(RDBStorage).items():
            if isinstance(fn, type(lambda: 0)) and not name.startswith("__"):  # plain methods only
                self._patch(RDBStorage, name, fn)
        # the worker's cache writes held-back params itself (usually inside set_user_attrs, counted once)
        self._patch(adapter.OwnTrialsCache, "_insert_params", adapter.OwnTrialsCache._insert_params)
        for name in ("set_user_attrs", "last_heartbeats", "read_note", "write_note"):
            fn = getattr(adapter, name)
            for module in [m for k, m in sys.modules.items() if k.startswith("tuner")]:
                if getattr(module, name, None) is fn:  # also where it was imported by name
                    self._patch(module, name, fn)

    def _patch(self, owner: object, name: str, fn: object) -> None:
        self._originals.append((owner, name, fn))
        setattr(owner, name, self._wrap(fn))

    def uninstall(self) -> None:
        for owner, name, fn in reversed(self._originals):
            setattr(owner, name, fn)

    def _wrap(self, fn):
        clock = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return fn(*args, **kwargs)
            depth = getattr(clock._depth, "d", 0)
            clock._depth.d = depth + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock._depth.d = depth
                if depth == 0:
                    clock.seconds += time.perf_counter() - t0
                    clock.calls += 1
                    clock.by_method[fn.__name__] += 1
        return timed


def run(study_file: str, source: str, strategy: str, seed: int, n_trials: int, threads: int, patience: int,
        workdir: Path, samples: int | None = None) -> dict:
    """One strategy on one dataset with one sampler seed: a fresh SQLite study, one in-process worker."""
    pruner, _, es = strategy.partition("+")
    tag = f"{abs(hash(source)) % 10**6}-{strategy.replace('+', '-')}-{seed}"  # a fresh study per dataset too
    cfg = load_study_config(study_file, storage=f"sqlite:///{workdir}/{tag}.db", n_trials=n_trials)
    train = {**cfg.train, "patience": patience if (es or pruner == "es") else 0,
             **({"samples_per_epoch": samples} if samples else {})}
    name = "none" if pruner in ("none", "es") else pruner
    pcfg = PrunerConfig(name=name, n_warmup_steps=cfg.pruner.n_warmup_steps,  # the bare pruners, as measured
                        n_startup_trials=cfg.pruner.n_startup_trials if name == "median" else None)
    cfg = dataclasses.replace(cfg, name=f"bench-{tag}", timeout=None, artifacts=workdir / f"artifacts-{tag}",
                              train=train, pruner=pcfg, validation=FoldConfig(folds=1), confirm=None,
                              sampler=dataclasses.replace(cfg.sampler, seed=seed),
                              data=dataclasses.replace(cfg.data, source=source))
    clock = StorageClock()
    clock.install()
    t0 = time.perf_counter()
    try:
        run_worker(cfg, threads=threads, stop=StopFlag(), worker_index=0)
    finally:
        wall = time.perf_counter() - t0
        clock.uninstall()
    trials = optuna.load_study(study_name=cfg.name, storage=cfg.storage).get_trials()
    done = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)),
                  key=lambda t: t.datetime_complete)
    curve, total, best = [], 0, None
    for t in done:  # best skill so far (the best trial by the study's objective) vs cumulative epochs
        total += int(t.user_attrs.get("epochs_run", 0))
        if t.state == TrialState.COMPLETE and (best is None or t.value < best.value):
            best = t
        curve.append((total, best.user_attrs.get("val_skill_half") if best else None))
    return {"strategy": strategy, "seed": seed, "trials": len(done),
            "pruned": sum(t.state == TrialState.PRUNED for t in done),
            "stopped_early": sum(any(t.user_attrs.get("fold_stopped_early") or []) for t in done),
            "epochs": total, "wall_s": wall, "storage_s": clock.seconds, "storage_calls": clock.calls,
            "storage_calls_by_method": dict(clock.by_method.most_common()),
            "best_trial": best.number, "best_val_mae": best.value,
            "skill": best.user_attrs.get("val_skill_half"), "ic": best.user_attrs.get("val_ic"), "curve": curve}


def summarize(rows: list[dict], strategies: list[str]) -> list[dict]:
    """Medians over seeds; ratios against the baseline ("none") of the same seed."""
    base = {r["seed"]: r for r in rows if r["strategy"] == "none"}
    out = []
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s]
        med = {k: statistics.median(r[k] for r in mine) for k in ("epochs", "wall_s", "skill", "ic", "pruned",
                                                                   "stopped_early")}
        med["storage_pct"] = statistics.median(100 * r["storage_s"] / r["wall_s"] for r in mine)
        if base:
            med["epochs_ratio"] = statistics.median(r["epochs"] / base[r["seed"]]["epochs"] for r in mine)
            fractions = [r["skill"] / base[r["seed"]]["skill"] for r in mine if base[r["seed"]]["skill"] > 0]
            med["skill_fraction"] = statistics.median(fractions) if fractions else None
        out.append({"strategy": s, **med})
    return out


def plot(rows: list[dict], strategies: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    top = max(r["epochs"] for r in rows)
    grid = np.linspace(0, top, 200)
    for s in strategies:
        curves = []
        for r in (r for r in rows if r["strategy"] == s):
            xs = np.array([c[0] for c in r["curve"]], float)
            ys = np.array([np.nan if c[1] is None else c[1] for c in r["curve"]], float)
            idx = np.searchsorted(xs, grid, side="right") - 1
            curves.append(np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # no COMPLETE trial yet at the left edge
            med = np.nanmedian(np.vstack(curves), axis=0) if curves else grid * np.nan
        ax.step(grid, 100 * med, where="post", label=s, linewidth=2 if s in ("none", "median+es") else 1)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("cumulative epochs trained")
    ax.set_ylabel("best trial's validation skill vs always-0.5 (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="studies/sample.toml", help="the study whose [train]/[search] are used")
    ap.add_argument("--datasets", default="sample,planted", help=f"comma-separated of {list(DATASETS)}")
    ap.add_argument("--strategies", default=None, help=f"comma-separated of {list(STRATEGIES)}; 'none' first")
    ap.add_argument("--seeds", default=None, help="sampler seeds, comma-separated (default 1,2,3; quick: 1)")
    ap.add_argument("--n-trials", type=int, default=None, help="trials per run (default 12; quick: 6)")
    ap.add_argument("--patience", type=int, default=2, help="early stopping patience of the '+es' strategies")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the (single) worker")
    ap.add_argument("--samples", type=int, default=None,
                    help="override [train] samples_per_epoch (default: the study's; full runs use 2048)")
    ap.add_argument("--quick", action="store_true", help="a run of a few minutes")
    ap.add_argument("--profile", action="store_true",
                    help="print each run's storage calls per method (P5: counts are load-independent, seconds are not)")
    ap.add_argument("--out", default="runs/bench-study", help="directory for the PNGs and results.json")
    args = ap.parse_args()
    strategies = (args.strategies.split(",") if args.strategies else list(QUICK if args.quick else STRATEGIES))
    seeds = [int(s) for s in (args.seeds or ("1" if args.quick else "1,2,3")).split(",")]
    n_trials = args.n_trials or (6 if args.quick else 12)
    datasets = args.datasets.split(",")
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, torch {torch.__version__}, optuna {optuna.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"study {args.study} (1 fold), {n_trials} trials per run, seeds {seeds}, one worker with "
          f"{args.threads} threads, SQLite; early stopping: patience {args.patience}"
          + (f"; samples_per_epoch {args.samples}" if args.samples else ""))
    results = {}
    with tempfile.TemporaryDirectory(prefix="stocktune-bench-") as tmp:
        for name in datasets:
            rows = []
            for seed in seeds:
                for s in strategies:
                    r = run(args.study, DATASETS[name], s, seed, n_trials, args.threads, args.patience, Path(tmp),
                            args.samples)
                    print(f"  {name} seed {seed} {s:<24} epochs {r['epochs']:>4}  skill {r['skill']:+.4f}  "
                          f"ic {r['ic']:+.4f}  {r['wall_s']:.0f}s  load {os.getloadavg()[0]:.1f}", flush=True)
                    if args.profile:  # call counts do not depend on the machine's load, unlike the seconds
                        n = max(r["trials"], 1)
                        print(f"    storage (main thread): {r['storage_calls']} calls, {r['storage_calls'] / n:.1f} "
                              f"per trial, {r['storage_s']:.2f} s = {r['storage_s'] / r['wall_s']:.2%} of wall; "
                              + ", ".join(f"{k} {v}" for k, v in r["storage_calls_by_method"].items()), flush=True)
                    rows.append(r)
            summary = summarize(rows, strategies)
            results[name] = {"rows": rows, "summary": summary}
            plot(rows, strategies, out / f"skill_vs_epochs_{name}.png", f"{name}: median of seeds {seeds}")
            print(f"\n{name} ({DATASETS[name]}), medians over {len(seeds)} seed(s):")
            print(f"{'strategy':<24}{'epochs':>8}{'vs none':>9}{'pruned':>8}{'stopped':>8}{'best skill':>12}"
                  f"{'of none':>9}{'best IC':>9}{'wall s':>8}{'storage':>9}")
            for m in summary:
                frac = f"{m['skill_fraction']:.0%}" if m.get("skill_fraction") is not None else "n/a"
                print(f"{m['strategy']:<24}{m['epochs']:>8.0f}{m.get('epochs_ratio', 1):>9.2f}{m['pruned']:>8.0f}"
                      f"{m['stopped_early']:>8.0f}{m['skill']:>+12.4f}{frac:>9}{m['ic']:>+9.4f}{m['wall_s']:>8.0f}"
                      f"{m['storage_pct']:>8.2f}%")
            print(f"plot: {out / f'skill_vs_epochs_{name}.png'}")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}; results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
