"""How much of the oracle can any configuration reach? The ceiling that tuning works under.

`bench/payoff.py` asks whether a search finds a configuration better than the defaults; this asks
how far the best configuration could go at all. On the planted-pattern markets of `bench/payoff.py`
(the same generator, sizes and data prep), each configuration of a grid around the search space is
trained as `stocktune fit --final` trains a run file (train + validation, its epochs, then scored once
on the untouched test period), and its test rank IC is put next to the oracle's (the generator's own
drift). Choosing the best row per market *on the test period* is a bound no search can beat: if even
that falls short of a target, no selection rule, prior or start-up setting will reach it, and what is
left is data, budget or architecture.

``--members K``: each configuration is also trained with K seeds (10000 + j, as confirmation seeds
them) and the K models averaged as `evaluate` averages an ensemble (model/ensemble.py): what seed
averaging adds over one member.

    python bench/ceiling.py                      # 3 planted markets x the default grid, 1 thread (~15 min)
    python bench/ceiling.py --members 4 --grid '[{"learning_rate": 1e-3}]'
    python bench/ceiling.py --json > part.json
    python bench/ceiling.py --summarize part1.json part2.json   # markets of several runs, one table

``--summarize`` pairs every configuration with the grid's first row on the same markets (test IC,
mean ± SE over markets, W/T/L), and adds two selections: the best row per market chosen on the test
period (a bound), and the row a user could have chosen from the *other* markets (leave one market out:
the best mean share of the oracle on the rest), scored on the market left out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import payoff  # noqa: E402  (the payoff bench's markets, study template and oracle)

from data_prep import prepare  # noqa: E402
from model.config import TrainConfig  # noqa: E402
from model.ensemble import MeanOfMembers  # noqa: E402
from model.evaluation import evaluate_split  # noqa: E402
from model.refit import final_config, fit_run  # noqa: E402
from tuner.study_config import load_study_config  # noqa: E402

# around the payoff bench's search space ([search] of payoff.STUDY) and its defaults (lr 1e-3, GRU 2 x 64),
# at its full budget (8 epochs x 8,192 samples), plus longer training and a Conv1d front end
GRID: list[dict[str, Any]] = [
    {"learning_rate": 1e-3},
    {"learning_rate": 3e-3},
    {"learning_rate": 1e-2},
    {"learning_rate": 3e-2},
    {"learning_rate": 3e-3, "cell": "lstm"},
    {"learning_rate": 1e-2, "hidden_dim": 32},
    {"learning_rate": 1e-2, "num_layers": 1},
    {"learning_rate": 1e-3, "epochs": 16},
    {"learning_rate": 3e-3, "epochs": 16},
    {"learning_rate": 3e-3, "epochs": 32},
    {"learning_rate": 1e-2, "hidden_dim": 32, "epochs": 24},
    {"learning_rate": 3e-3, "conv_channels": 16},
]
BASE = {"epochs": 8, "samples_per_epoch": 8192, "batch_size": 256, "eval_batch_size": 8192}


def score(prep: Any, cfg: TrainConfig, members: int, threads: int) -> dict[str, Any]:
    """Test IC of the final refit of ``cfg`` (seed as given), and with ``members`` > 1 of the average of
    that many refits seeded 10000 + j."""
    started = time.perf_counter()
    ds = prep.dataset()
    net = fit_run(prep, final_config(cfg, cfg.epochs), final=True, threads=threads).result.model
    out: dict[str, Any] = {"ic": evaluate_split(net, ds, cfg, split="test").model.ic}
    if members > 1:
        nets = []
        for j in range(members):
            c = dataclasses.replace(cfg, seed=10000 + j)
            nets.append(fit_run(prep, final_config(c, c.epochs), final=True, threads=threads).result.model)
        out["member_ics"] = [evaluate_split(n, ds, cfg, split="test").model.ic for n in nets]
        out["ensemble_ic"] = evaluate_split(MeanOfMembers(nets), ds, cfg, split="test").model.ic
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def summarize(rows: list[dict[str, Any]]) -> None:
    """Per configuration: median share of the oracle, IC paired with the first configuration; then the
    best row per market (chosen on test) and the leave-one-market-out choice."""
    def key(r: dict[str, Any]) -> str:
        return json.dumps(r["config"], sort_keys=True)

    def market(r: dict[str, Any]) -> Any:  # rows of another size of market (--days) are other markets
        return (re.sub(r",seed=\d+", "", r.get("market", "")), r["seed"])

    configs = list(dict.fromkeys(key(r) for r in rows))
    by = {(key(r), market(r)): r for r in rows}
    seeds = sorted({market(r) for r in rows})
    share = {(c, s): by[c, s]["ic"] / by[c, s]["oracle_ic"] for c, s in by}
    sizes = {s[0] for s in seeds}
    names = ", ".join(str(s[1]) if len(sizes) == 1 else f"{s[0].split(':')[-1]} seed {s[1]}" for s in seeds)
    print(f"{len(seeds)} planted markets ({names}); test IC - {configs[0]} on the same markets")
    print("| configuration | markets | median of oracle | per market | IC - the first row (W/T/L) |")
    print("|---|---:|---:|---|---:|")
    for c in configs:
        mine = [s for s in seeds if (c, s) in by]
        both = [s for s in mine if (configs[0], s) in by]
        print(f"| {c} | {len(mine)} | {statistics.median(share[c, s] for s in mine):.0%} | "
              + " / ".join(f"{share[c, s]:.0%}" for s in mine) + " | "
              + payoff.paired_text([by[c, s]["ic"] - by[configs[0], s]["ic"] for s in both]) + " |")
        ens = [s for s in mine if "ensemble_ic" in by[c, s]]
        if ens:  # --members K: the K-seed average, paired with the first row's single model
            k = len(by[c, ens[0]]["member_ics"])
            frac = {s: by[c, s]["ensemble_ic"] / by[c, s]["oracle_ic"] for s in ens}
            print(f"| {c}, the average of {k} seeds | {len(ens)} | {statistics.median(frac.values()):.0%} | "
                  + " / ".join(f"{frac[s]:.0%}" for s in ens) + " | "
                  + payoff.paired_text([by[c, s]["ensemble_ic"] - by[configs[0], s]["ic"]
                                        for s in ens if (configs[0], s) in by]) + " |")
    full = [c for c in configs if all((c, s) in by for s in seeds)]
    best = [max(share[c, s] for c in full) for s in seeds]
    loo = []
    for s in seeds:
        rest = [t for t in seeds if t != s]
        pick = max(full, key=lambda c: statistics.mean(share[c, t] for t in rest))
        loo.append(share[pick, s])
    print(f"the best of the {len(full)} rows per market, chosen on the test period (a bound): median "
          f"{statistics.median(best):.0%} ({' / '.join(f'{b:.0%}' for b in best)})")
    print(f"the row chosen on the other markets (leave one market out): median {statistics.median(loo):.0%} "
          f"({' / '.join(f'{b:.0%}' for b in loo)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3", help="planted markets (payoff.py's seeds)")
    ap.add_argument("--tickers", type=int, default=60)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--pattern", type=float, default=0.1)
    ap.add_argument("--grid", default=None, help="JSON list of TrainConfig overrides (default: GRID)")
    ap.add_argument("--members", type=int, default=1, help="also a K-seed ensemble of each configuration")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="runs/bench-ceiling")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--summarize", nargs="+", default=None, metavar="FILE", help="only print the table of these --json files")
    args = ap.parse_args(argv)
    if args.summarize:
        summarize([r for f in args.summarize for r in json.loads(Path(f).read_text())["rows"]])
        return 0
    torch.set_num_threads(args.threads)
    grid = json.loads(args.grid) if args.grid else GRID
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["STOCKTUNE_CACHE"] = str(work / "cache")
    probe = argparse.Namespace(n_trials=12, epochs=8, samples=8192, tickers=args.tickers, days=args.days,
                               pattern=args.pattern)
    rows = []
    for seed in map(int, args.seeds.split(",")):
        source = payoff.market("a", seed, args.tickers, args.days, args.pattern)
        study = payoff._write(work, source, seed, probe, "probe")
        prep = prepare(source, load_study_config(study).data.prep, work / "cache")
        oracle = payoff.oracle_ic(prep.dataset(), args.tickers, args.days, seed, args.pattern)
        for g in grid:
            cfg = TrainConfig(**{**BASE, "threads": args.threads, **g})
            row = {"seed": seed, "market": source, "oracle_ic": oracle, "config": g,
                   **score(prep, cfg, args.members, args.threads)}
            rows.append(row)
            if not args.json:
                ens = f"  ensemble of {args.members}: {row['ensemble_ic'] / oracle:.0%}" if "ensemble_ic" in row else ""
                print(f"market {seed}: {json.dumps(g):<58} test IC {row['ic']:+.4f} = {row['ic'] / oracle:.0%} of the "
                      f"oracle's{ens}  ({row['seconds']:.0f} s)", flush=True)
    best = {s: max(r["ic"] / r["oracle_ic"] for r in rows if r["seed"] == s) for s in {r["seed"] for r in rows}}
    summary = {"rows": rows, "best_of_grid_on_test": best, "median_best": statistics.median(best.values()),
               "machine": f"{platform.node()} {os.cpu_count()} cores", "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print()
    summarize(rows)
    print(f"(load {summary['load_average']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
