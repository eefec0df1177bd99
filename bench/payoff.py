"""Does tuning pay, and does the verdict tell the truth? Three arms on synthetic markets, same trial budget.

Markets (a new one per seed): (a) a planted XOR pattern of two lagged 20-day returns
(``synthetic:...,pattern=P``): recovering it takes look-back, a non-linear interaction, capacity and a
workable learning rate, so hyperparameters decide how much of it a model learns; its oracle (the
generator's own drift) sets the test IC to aim for; (b) no signal at all (a GARCH random walk).

Arms, each ending in a final refit on train + validation and one score on the untouched test period:
  default  the default TrainConfig (the study's fixed budget), no search
  single   a study selecting on one validation window (folds = 1), the best trial
  folds    a study on walk-forward folds, its top configurations confirmed with fresh seeds
Per arm: test rank IC, test skill vs always-0.5, epochs trained (search + confirmation + refit); for the
two studies also the verdict. Medians over seeds; the verdict counted over seeds.

Targets: on (a) the folds arm reaches >= 80% of the oracle's test IC and beats the single arm on the
median; the verdict says "beats" in >= 9 of 10 seeds on (a) and "not distinguishable" in >= 9 of 10 on (b).

    python bench/payoff.py                 # 10 seeds x 2 markets (the verdict rates), about an hour on 2 cores
    python bench/payoff.py --quick         # 2 seeds, smaller studies: a few minutes
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model  # noqa: E402
from data_prep import prepare  # noqa: E402
from data_prep.folds import FoldConfig  # noqa: E402
from data_prep.synthetic import planted_drift  # noqa: E402
from model.evaluation import evaluate_split  # noqa: E402
from model.final import final_config  # noqa: E402
from model.metrics import per_date_ic  # noqa: E402
from tuner.confirm import confirmed_ranking, summarize_confirmation  # noqa: E402
from tuner.signals import StopFlag  # noqa: E402
from tuner.study_config import ConfirmConfig, load_study_config  # noqa: E402
from tuner.trials import ranked  # noqa: E402
from tuner.verdict import study_verdict  # noqa: E402
from tuner.worker import run_confirmation, run_worker  # noqa: E402

STUDY = """
name = "payoff"
n_trials = {n_trials}
[data]
source = "{source}"
look_back = 60
look_ahead = 5
[train]
epochs = {epochs}
samples_per_epoch = {samples}
batch_size = 256
eval_batch_size = 8192
patience = 2
seed = 0
[search]
learning_rate = {{ low = 1e-4, high = 3e-2, log = true }}
hidden_dim = {{ choices = [8, 16, 32, 64] }}
num_layers = {{ low = 1, high = 2 }}
cell = {{ choices = ["gru", "lstm"] }}
dropout = 0.0
weight_decay = 1e-5
warmup_ratio = {{ low = 0.0, high = 0.1 }}
[sampler]
name = "tpe"
seed = {seed}
n_startup_trials = {startup}
[pruner]
name = "median"
n_startup_trials = {startup}
n_warmup_steps = 2
"""


def market(kind: str, seed: int, tickers: int, days: int, pattern: float) -> str:
    return f"synthetic:tickers={tickers},days={days},seed={seed}" + (f",pattern={pattern}" if kind == "a" else "")


def oracle_ic(dataset: Any, tickers: int, days: int, seed: int, pattern: float) -> float:
    """Mean per-date Spearman IC on the test period of the generator's own expected drift."""
    drift = planted_drift(tickers, days, seed, pattern=pattern, horizon=dataset.look_ahead)
    key = pd.MultiIndex.from_arrays([drift["ticker"], pd.to_datetime(drift["date"])])
    lookup = pd.Series(drift["drift"].to_numpy(), index=key)
    sa = dataset.split("test")
    names = np.asarray(dataset.tickers, dtype=object)[dataset.ticker[sa.end_idx]]
    dates = pd.to_datetime(np.asarray(dataset.date[sa.end_idx], "datetime64[D]"))
    pred = lookup.reindex(pd.MultiIndex.from_arrays([names, dates])).to_numpy()
    ok = np.isfinite(pred)
    _, ic = per_date_ic(pred[ok], np.asarray(sa.target)[ok], np.asarray(dates.values, "datetime64[D]")[ok])
    return float(ic.mean()) if ic.size else float("nan")


def test_score(dataset: Any, cfg: model.TrainConfig, epochs: int) -> tuple[float, float, int]:
    """(test IC, test skill vs 0.5, epochs) of a final refit of ``cfg`` for ``epochs`` epochs."""
    final = final_config(cfg, max(1, epochs))
    fit = model.fit(dataset, final)
    ev = evaluate_split(fit.model, dataset, final, split="test").result["model"]
    return ev["ic"], ev["skill_half"], final.epochs


def run_study(path: Path, folds: int, confirm: tuple[int, int] | None, threads: int) -> dict[str, Any]:
    cfg = load_study_config(path)
    cfg = dataclasses.replace(cfg, validation=FoldConfig(folds=folds),
                              confirm=ConfirmConfig(*confirm) if confirm else None)
    run_worker(cfg, threads=threads, stop=StopFlag(), worker_index=0)
    epochs = 0
    if confirm:
        run_confirmation(cfg, confirm[0], confirm[1], threads=threads)
        summarize_confirmation(cfg)
        runs = optuna.load_study(study_name=f"{cfg.name}.confirm", storage=cfg.storage).get_trials()
        epochs += sum(int(t.user_attrs.get("epochs_run", 0)) for t in runs)
    study = optuna.load_study(study_name=cfg.name, storage=cfg.storage)
    trials = study.get_trials()
    epochs += sum(int(t.user_attrs.get("epochs_run", 0)) for t in trials)
    conf = confirmed_ranking(study)
    winner = conf[0]["trial"] if conf else ranked(trials, cfg.direction)[0].number
    t = trials[winner]
    verdict = study_verdict(cfg, study)
    tcfg = cfg.train_config(t.params, threads=threads)
    return {"cfg": tcfg, "best_epoch": int(t.user_attrs["best_epoch"]), "epochs": epochs, "winner": winner,
            "params": t.params, "verdict": verdict.baselines.outcome if verdict else None,
            "verdict_defaults": verdict.defaults.outcome if verdict else None,
            "val_skill": verdict.baselines.skill_half if verdict else None, "val_value": t.value}


def one_seed(kind: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = market(kind, seed, args.tickers, args.days, args.pattern)
    os.environ["STOCKTUNE_CACHE"] = str(work / "cache")
    dataset = prepare(source, load_study_config(_write(work, source, seed, args, "probe")).data.prep,
                      work / "cache").dataset()
    row: dict[str, Any] = {"market": kind, "seed": seed, "source": source}
    if kind == "a":
        row["oracle_ic"] = oracle_ic(dataset, args.tickers, args.days, seed, args.pattern)
    # default: the default TrainConfig with the study's budget, trained once on train + val
    probe = load_study_config(_write(work, source, seed, args, "probe"))
    default = probe.train_config({}, threads=args.threads)
    ic, skill, ep = test_score(dataset, default, default.epochs)
    row["default"] = {"ic": ic, "skill": skill, "epochs": ep}
    for arm, folds, confirm in (("single", 1, None), ("folds", args.folds, (args.top_k, args.confirm_seeds))):
        s = run_study(_write(work, source, seed, args, arm), folds, confirm, args.threads)
        ic, skill, ep = test_score(dataset, s["cfg"], s["best_epoch"])
        row[arm] = {"ic": ic, "skill": skill, "epochs": s["epochs"] + ep, "verdict": s["verdict"],
                    "val_skill": s["val_skill"], "params": s["params"]}
    return row


def _write(work: Path, source: str, seed: int, args: argparse.Namespace, arm: str) -> Path:
    d = work / f"{arm}-{seed}-{abs(hash(source)) % 10**8}"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "study.toml"
    text = STUDY.format(n_trials=args.n_trials, source=source, epochs=args.epochs, samples=args.samples,
                        seed=seed, startup=max(2, args.n_trials // 3))
    path.write_text(f'storage = "sqlite:///{d}/study.db"\nartifacts = "{d}/artifacts"\n' + text)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 seeds, smaller studies")
    ap.add_argument("--seeds", type=int, default=None, help="markets per kind (default 10; quick: 2)")
    ap.add_argument("--n-trials", type=int, default=None, help="trials per study (default 12; quick: 6)")
    ap.add_argument("--tickers", type=int, default=60)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--pattern", type=float, default=0.1, help="strength of the planted pattern in market (a)")
    ap.add_argument("--epochs", type=int, default=None, help="[train] epochs (default 8; quick: 5)")
    ap.add_argument("--samples", type=int, default=None, help="samples per epoch (default 8192; quick: 4096)")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--confirm-seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markets", default="a,b", help="a: planted pattern, b: no signal")
    ap.add_argument("--out", default="runs/bench-payoff/results.json")
    args = ap.parse_args()
    args.seeds = args.seeds or (2 if args.quick else 10)
    args.n_trials = args.n_trials or (6 if args.quick else 12)
    args.epochs = args.epochs or (5 if args.quick else 8)
    args.samples = args.samples or (4096 if args.quick else 8192)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}, optuna {optuna.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"markets {args.tickers} tickers x {args.days} days, pattern {args.pattern}; {args.n_trials} trials per "
          f"study, {args.epochs} epochs x {args.samples} samples, patience 2; folds arm: {args.folds} folds, top "
          f"{args.top_k} confirmed with {args.confirm_seeds} seeds; {args.seeds} seeds; {args.threads} threads")
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stocktune-payoff-") as tmp:
        for kind in args.markets.split(","):
            for seed in range(1, args.seeds + 1):
                r = one_seed(kind, seed, args, Path(tmp))
                rows.append(r)
                oracle = f" oracle IC {r['oracle_ic']:+.4f}" if "oracle_ic" in r else ""
                print(f"  ({kind}) seed {seed}{oracle}  " + "  ".join(
                    f"{arm}: IC {r[arm]['ic']:+.4f} skill {r[arm]['skill']:+.4f} ep {r[arm]['epochs']}"
                    + (f" [{'beats' if r[arm]['verdict'] and r[arm]['verdict'].startswith('beats') else 'noise'}]"
                       if "verdict" in r[arm] else "") for arm in ("default", "single", "folds"))
                      + f"  ({time.perf_counter() - t0:.0f}s, load {os.getloadavg()[0]:.1f})", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1, default=str))
    for kind in args.markets.split(","):
        mine = [r for r in rows if r["market"] == kind]
        title = "(a) planted pattern" if kind == "a" else "(b) no signal"
        print(f"\n{title}: medians over {len(mine)} markets")
        if kind == "a":
            oracle = statistics.median(r["oracle_ic"] for r in mine)
            print(f"  oracle test IC {oracle:+.4f}")
        print(f"  {'arm':<8}{'test IC':>9}{'of oracle':>11}{'test skill':>12}{'epochs':>8}{'verdict: beats':>16}")
        for arm in ("default", "single", "folds"):
            ic = statistics.median(r[arm]["ic"] for r in mine)
            frac = f"{ic / oracle:.0%}" if kind == "a" and oracle > 0 else "-"
            beats = (f"{sum(1 for r in mine if (r[arm].get('verdict') or '').startswith('beats'))}/{len(mine)}"
                     if arm != "default" else "-")
            print(f"  {arm:<8}{ic:>+9.4f}{frac:>11}{statistics.median(r[arm]['skill'] for r in mine):>+12.4f}"
                  f"{statistics.median(r[arm]['epochs'] for r in mine):>8.0f}{beats:>16}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; load average at the end {os.getloadavg()[0]:.1f}; rows: {out}")


if __name__ == "__main__":
    main()
