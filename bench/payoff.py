"""Does tuning pay, and does the verdict tell the truth? Arms on synthetic markets, same trial budget.

Markets (a new one per seed): (a) a planted XOR pattern of two lagged 20-day returns
(``synthetic:...,pattern=P``): recovering it takes look-back, a non-linear interaction, capacity and a
workable learning rate, so hyperparameters decide how much of it a model learns; its oracle (the
generator's own drift) sets the test IC to aim for; (b) no signal at all (a GARCH random walk).

Arms (``ARMS``), each a run file the product's own `export` writes, refitted as `fit --final` trains it
(train + validation, the epochs in the file) and scored once on the untouched test period:
  defaults         `export --defaults` of the folds study: its trial 0, the default configuration
                   (tuner/defaults_arm.py), refitted at that trial's best epoch
  single           a study selecting on one validation window (folds = 1): `export`, its best trial
  winner           `export` of the folds study: the winner after confirmation (its top-k and the defaults
                   retrained with fresh seeds); it may be the defaults
  ensemble         `export --ensemble` of the folds study: every confirmed configuration x its confirmation
                   seeds, refitted and averaged (model/ensemble.py), as `evaluate`/`predict` average them
  recommended      what the product tells the user to ship (tuner/export.py ``what_to_ship``, the policy
                   `export`'s warning states): the winner when verdict (b) says "better than the defaults",
                   else the ensemble (the study is confirmed), else the defaults. --summarize re-picks it
                   with today's policy from the arms a row scored, so rows of an earlier policy compare
  recommended_ens  a lever: the ensemble when (b) says "better than the defaults", else the defaults
and the oracle (the generator's own drift) on the planted markets. Per arm: median test rank IC, % of
the oracle's, test skill vs always-0.5, epochs trained (the study's search + confirmation + the refit(s);
the defaults: their own trial and refit only), test IC per 1,000 epochs, the paired difference to the
defaults over markets (mean ± SE, wins/ties/losses), and the verdict of the arm's study counted over
markets: (a) "beats" the naive baselines, (b) "better than the defaults".

Targets (issue 18): on (a) the recommended arm reaches a test IC >= the defaults' on >= 9 of 10 markets
and >= 80% of the oracle's on the median; the verdict says "beats" in >= 9 of 10 on (a); on (b) it says
"better than the defaults" at most once in 10.

Results go to --out, one entry per market, written after each market: a rerun with the same settings
skips the markets done (a long run can be split over sessions, or over processes with one --markets
kind each and their own --out). The kinds are interleaved by seed, so a run cut short has some of each.

    python bench/payoff.py                 # 10 seeds x 2 markets at the full budget: hours on 2 cores
    python bench/payoff.py --quick         # 2 seeds, smaller studies
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import InputError  # noqa: E402
from common.files import write_atomic  # noqa: E402
from data_prep import prepare  # noqa: E402
from data_prep.folds import FoldConfig  # noqa: E402
from data_prep.synthetic import planted_drift  # noqa: E402
from model.ensemble import MeanOfMembers  # noqa: E402
from model.evaluation import evaluate_split  # noqa: E402
from model.metric_names import OBJECTIVES  # noqa: E402
from model.metrics import per_date_ic  # noqa: E402
from model.refit import fit_members, fit_run, member_configs, train_config_for  # noqa: E402
from model.run_file import load_run_config  # noqa: E402
from tuner.confirm import summarize_confirmation  # noqa: E402
from tuner.export import SHIP_ENSEMBLE, SHIP_WINNER, export_best, what_to_ship  # noqa: E402
from tuner.export_ensemble import export_ensemble  # noqa: E402
from tuner.signals import StopFlag  # noqa: E402
from tuner.study_config import REFIT_EPOCHS, ConfirmConfig, load_study_config  # noqa: E402
from tuner.trials import ranked  # noqa: E402
from tuner.verdict import BETTER, study_verdict  # noqa: E402
from tuner.worker import run_confirmation, run_worker  # noqa: E402

STUDY = """
name = "payoff"
n_trials = {n_trials}
metric = "{metric}"
refit_epochs = "{refit_epochs}"
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


def score_members(prep: Any, members: list[tuple[Any, Any]], threads: int) -> tuple[float, float, int, list[dict[str, Any]]]:
    """(test IC, test skill vs 0.5, epochs trained, each member's own test scores) of an ensemble's
    members (``member_configs``: (member, final TrainConfig) pairs) refitted and averaged as `evaluate`
    averages them; the members' own scores let the selection among the confirmed configurations be
    studied after the run without training again."""
    nets = [r.result.model for r in fit_members(prep, members, threads=threads)]
    alone = []
    for (m, c), n in zip(members, nets):
        e = evaluate_split(n, prep.dataset(), c, split="test").model
        alone.append({"trial": m.trial, "seed": m.seed, "ic": e.ic, "skill": e.skill_half})
    cfg = min((c for _, c in members), key=lambda c: c.eval_batch_size)
    ev = evaluate_split(MeanOfMembers(nets), prep.dataset(), cfg, split="test").model
    return ev.ic, ev.skill_half, sum(c.epochs for _, c in members), alone


def test_score(prep: Any, run_file: Path, threads: int) -> tuple[float, float, int, list[dict[str, Any]]]:
    """(test IC, test skill vs 0.5, epochs trained, members' own test scores) of a run file's final
    refit, as `stocktune fit --final` trains it (an ensemble run file: ``score_members``)."""
    rc = load_run_config(run_file)
    if rc.members:
        return score_members(prep, member_configs(rc), threads)
    cfg = train_config_for(rc, final=True)
    net = fit_run(prep, cfg, final=True, threads=threads).result.model
    ev = evaluate_split(net, prep.dataset(), cfg, split="test").model
    return ev.ic, ev.skill_half, cfg.epochs, []


def _refit_key(run_file: Path) -> str:
    """What a run file's refit trains: two files of the same training config (the winner is the
    defaults: winner.toml and defaults.toml) are one refit, not two."""
    rc = load_run_config(run_file)
    return str(run_file) if rc.members else repr(train_config_for(rc, final=True))


def exported(cfg: Any, d: Path, confirmed: bool) -> dict[str, dict[str, Any] | None]:
    """The run files the product's `export` writes into ``d``: the winner, the defaults (`--defaults`)
    and, for a confirmed study, the ensemble (`--ensemble`); an export the study cannot give (e.g.
    every trial pruned) is ``{"file": None, "note": why}``, not a crash (issue 18, D)."""
    exports: dict[str, Callable[[], Any]] = {
        "winner": lambda: export_best(cfg, d / "winner.toml"),
        "defaults": lambda: export_best(cfg, d / "defaults.toml", defaults=True),
        "ensemble": lambda: export_ensemble(cfg, d / "ensemble.toml") if confirmed else None}
    out: dict[str, dict[str, Any] | None] = {}
    for key, export in exports.items():
        try:
            res = export()
        except InputError as e:
            out[key] = {"file": None, "note": str(e)}
            continue
        if res is None:
            out[key] = None
            continue
        file = res if isinstance(res, Path) else res.paths[0]
        doc = load_run_config(file)
        out[key] = {"file": file, "trial": doc.result.get("trial", doc.result.get("ensemble_trials")),
                    "members": len(doc.members) or 1, "epochs_run": int(doc.result.get("epochs_run") or 0)}
    return out


def run_study(path: Path, folds: int, confirm: tuple[int, int] | None, threads: int) -> dict[str, Any]:
    """One study as the product runs it (search, then confirmation when asked) and the run files its
    `export` writes: the winner, the defaults (`--defaults`), the ensemble (`--ensemble`, confirmed
    studies only); the verdict and the epochs trained."""
    cfg = load_study_config(path)
    cfg = dataclasses.replace(cfg, validation=FoldConfig(folds=folds),
                              confirm=ConfirmConfig(*confirm) if confirm else None)
    run_worker(cfg, threads=threads, stop=StopFlag(), worker_index=0)
    epochs = 0
    study = optuna.load_study(study_name=cfg.name, storage=cfg.storage)
    if confirm and ranked(study.get_trials(), cfg.direction):
        run_confirmation(cfg, confirm[0], confirm[1], threads=threads)
        summarize_confirmation(cfg)
        runs = optuna.load_study(study_name=f"{cfg.name}.confirm", storage=cfg.storage).get_trials()
        epochs += sum(int(t.user_attrs.get("epochs_run", 0)) for t in runs)
    study = optuna.load_study(study_name=cfg.name, storage=cfg.storage)
    trials = study.get_trials()
    epochs += sum(int(t.user_attrs.get("epochs_run", 0)) for t in trials)
    verdict = study_verdict(cfg, study)
    out: dict[str, Any] = {"epochs": epochs, "verdict": verdict.baselines.outcome if verdict else None,
                           "verdict_defaults": verdict.defaults.outcome if verdict else None,
                           "ship": what_to_ship(verdict),
                           "val_skill": verdict.baselines.skill_half if verdict else None,
                           "verdict_json": verdict.to_json() if verdict else None,
                           "states": dict(collections.Counter(t.state.name for t in trials))}
    return out | exported(cfg, path.parent, confirm is not None)


# Arms scored per market: each picks, from the two studies' results, the run file it refits (None: the
# study has none, e.g. every trial pruned), the compute its study spent (None: the defaults, which
# need no search: their own trial only) and the verdict its study gave.
Pick = tuple[dict[str, Any] | None, int | None, dict[str, Any] | None]


# what_to_ship's answer -> the arm (run file) it names; anything else ships the defaults
ARM_OF_SHIP = {SHIP_WINNER: "winner", SHIP_ENSEMBLE: "ensemble"}


def _recommended(s: dict[str, Any], shipped: str | None = None) -> Pick:
    """What the product tells the user to ship (tuner/export.py ``what_to_ship``: the winner, the
    ensemble or the defaults); ``shipped``: the lever variant, that file when (b) says better than the
    defaults, else the defaults."""
    f = s["folds"]
    if shipped is not None:
        return (f[shipped] if f["ship"] == SHIP_WINNER else f["defaults"]), f["epochs"], f
    return f[ARM_OF_SHIP.get(f["ship"], "defaults")], f["epochs"], f


def current_policy(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its ``recommended`` arm re-picked by today's ``what_to_ship`` from the arms the row
    already scored (rows written under an earlier policy read as if run today; no training)."""
    v = row.get("verdict_json")
    if not v:
        return row
    ship = what_to_ship(SimpleNamespace(confirmed=bool(v.get("confirmed")),
                                        defaults=SimpleNamespace(outcome=v["defaults"]["outcome"])))
    arm = ARM_OF_SHIP.get(ship, "defaults")
    picked = dict(row[arm]) if arm != "defaults" else {**row["recommended"], **{
        k: row["defaults"][k] for k in ("ic", "skill", "trial", "members", "refit_epochs") if k in row["defaults"]}}
    return {**row, "recommended": {**picked, "verdict": row["recommended"].get("verdict"),
                                   "verdict_defaults": row["recommended"].get("verdict_defaults"), "ship": ship}}


ARMS: dict[str, Callable[[dict[str, Any]], Pick]] = {
    # the product's own trial 0 of the folds study, refitted at its epoch: what the user has without tuning
    "defaults": lambda s: (s["folds"]["defaults"], None, None),
    # a study selecting on one validation window (folds = 1), its best trial
    "single": lambda s: (s["single"]["winner"], s["single"]["epochs"], s["single"]),
    # the folds study's confirmed winner (which may be the defaults)
    "winner": lambda s: (s["folds"]["winner"], s["folds"]["epochs"], s["folds"]),
    # the confirmed configurations x their confirmation seeds, averaged (`export --ensemble`)
    "ensemble": lambda s: (s["folds"]["ensemble"], s["folds"]["epochs"], s["folds"]),
    # what the product recommends (what_to_ship): the winner when (b) says better than the defaults, else
    # the ensemble of a confirmed study, else the defaults
    "recommended": lambda s: _recommended(s),
    # a lever: the ensemble when (b) says better than the defaults, else the defaults
    "recommended_ens": lambda s: _recommended(s, "ensemble"),
}


def one_market(kind: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = market(kind, seed, args.tickers, args.days, args.pattern)
    os.environ["STOCKTUNE_CACHE"] = str(work / "cache")
    prep = prepare(source, load_study_config(_write(work, source, seed, args, "probe")).data.prep, work / "cache")
    dataset = prep.dataset()
    row: dict[str, Any] = {"market": kind, "seed": seed, "source": source}
    if kind == "a":
        row["oracle_ic"] = oracle_ic(dataset, args.tickers, args.days, seed, args.pattern)
    studies = {arm: run_study(_write(work, source, seed, args, arm), folds, confirm, args.threads)
               for arm, folds, confirm in (("single", 1, None), ("folds", args.folds, (args.top_k, args.confirm_seeds)))}
    row["states"] = {k: s["states"] for k, s in studies.items()}
    row["verdict_json"] = studies["folds"]["verdict_json"]
    scored: dict[str, tuple[float, float, int, list[dict[str, Any]]]] = {}  # one refit per training run
    for arm, pick in ARMS.items():
        chosen, epochs, study = pick(studies)
        verdicts = {"verdict": study["verdict"], "verdict_defaults": study["verdict_defaults"]} if study else {}
        if chosen is None or chosen["file"] is None:
            row[arm] = {"ic": None, "skill": None, "epochs": epochs, **verdicts,
                        "note": chosen["note"] if chosen else "no such run file"}
            continue
        key = _refit_key(chosen["file"])
        if key not in scored:
            scored[key] = test_score(prep, chosen["file"], args.threads)
        ic, skill, ep, alone = scored[key]
        # the defaults need no search: their own trial (which picks the refit's epochs) and the refit
        spent = (chosen["epochs_run"] if epochs is None else epochs) + ep
        row[arm] = {"ic": ic, "skill": skill, "epochs": spent, **verdicts, "trial": chosen["trial"],
                    "members": chosen["members"], "refit_epochs": ep} | ({"member_scores": alone} if alone else {})
    return row


def _write(work: Path, source: str, seed: int, args: argparse.Namespace, arm: str) -> Path:
    d = work / f"{arm}-{seed}-{abs(hash(source)) % 10**8}"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "study.toml"
    text = STUDY.format(n_trials=args.n_trials, source=source, epochs=args.epochs, samples=args.samples,
                        seed=seed, startup=max(2, args.n_trials // 3), metric=getattr(args, "metric", "val_mae"),
                        refit_epochs=getattr(args, "refit_epochs", "budget"))
    path.write_text(f'storage = "sqlite:///{d}/study.db"\nartifacts = "{d}/artifacts"\n' + text)
    return path


SETTINGS = ("arms", "n_trials", "tickers", "days", "pattern", "epochs", "samples", "folds", "top_k", "confirm_seeds")


def load_results(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The results file so far (markets done), or a new one; a file written with other settings is
    refused rather than mixed with these."""
    if not out.is_file():
        return {"settings": settings, "markets": {}}
    doc = json.loads(out.read_text())
    if not isinstance(doc, dict) or doc.get("settings") != settings:
        sys.exit(f"{out} holds results of other settings ({doc.get('settings') if isinstance(doc, dict) else '?'}); "
                 f"give another --out, or delete it to start over.")
    return doc


def save_results(out: Path, doc: dict[str, Any]) -> None:
    write_atomic(out, lambda tmp: tmp.write_text(json.dumps(doc, indent=1, default=str)))


def _median(xs: list[float | None]) -> float:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def paired_stats(d: list[float]) -> tuple[float, float, int, int, int]:
    """Differences paired by market: (mean, SE over markets, wins, ties, losses); a tie (|d| <= 1e-12)
    is the same model, e.g. both shipped the defaults."""
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    w, t = sum(x > 1e-12 for x in d), sum(abs(x) <= 1e-12 for x in d)
    return statistics.mean(d), se, w, t, len(d) - w - t


def paired_text(d: list[float]) -> str:
    """``paired_stats`` as the benches' tables print it: "mean ± SE (W/T/L)"."""
    mean, se, w, t, losses = paired_stats(d)
    return f"{mean:+.4f} ± {se:.4f} ({w}/{t}/{losses})"


def _paired(rows: list[dict[str, Any]], arm: str, key: str = "ic") -> str:
    """``arm`` - defaults, test ``key`` (IC or skill) paired by market: mean (SE over markets),
    wins/ties/losses."""
    d = [r[arm][key] - r["defaults"][key] for r in rows if r[arm][key] is not None and r["defaults"][key] is not None]
    if not d:
        return "-"
    mean, se, w, t, losses = paired_stats(d)
    return f"{mean:+.4f} ± {se:.4f}  {w}/{t}/{losses}"


def summarize(rows: list[dict[str, Any]], kinds: list[str]) -> None:
    rows = [current_policy(r) for r in rows]
    for kind in kinds:
        mine = [r for r in rows if r["market"] == kind]
        if not mine:
            continue
        title = "(a) planted pattern" if kind == "a" else "(b) no signal"
        print(f"\n{title}: medians over {len(mine)} markets")
        oracle = _median([r.get("oracle_ic") for r in mine])
        if kind == "a":
            print(f"  oracle test IC {oracle:+.4f}")
        print(f"  {'arm':<16}{'test IC':>9}{'of oracle':>10}{'test skill':>11}{'epochs':>8}{'IC/kepoch':>10}"
              f"  {'- defaults: mean ± SE  W/T/L':<30}{'(a) beats':>10}{'(b) better':>11}{'no refit':>9}")
        for arm in ARMS:
            ic = _median([r[arm]["ic"] for r in mine])
            ep = _median([r[arm]["epochs"] for r in mine])
            frac = f"{ic / oracle:.0%}" if kind == "a" and oracle > 0 else "-"
            hits = ["-", "-"]
            if arm != "defaults":
                hits = [f"{sum(1 for r in mine if (r[arm].get(k) or '').startswith(want))}/{len(mine)}"
                        for k, want in (("verdict", "beats"), ("verdict_defaults", BETTER))]
            none = sum(r[arm]["ic"] is None for r in mine)
            paired = _paired(mine, arm) if arm != "defaults" else "-"
            print(f"  {arm:<16}{ic:>+9.4f}{frac:>10}{_median([r[arm]['skill'] for r in mine]):>+11.4f}"
                  f"{ep:>8.0f}{1000 * ic / ep if ep else float('nan'):>+10.4f}  {paired:<30}{hits[0]:>10}{hits[1]:>11}"
                  f"{none:>9}")
        print("  test skill vs always-0.5, paired - defaults: " + "; ".join(
            f"{arm} {_paired(mine, arm, 'skill')}" for arm in ARMS if arm != "defaults"))
        print("  (a) beats / (b) better: the verdict of the arm's study (single: the one-window study; the others: "
              "the folds study), counted over markets")
        # a policy computed from the same rows (no refit of its own): the ensemble when (a) says beats
        pol = [{"defaults": r["defaults"], "p": r["ensemble"] if (r["ensemble"].get("verdict") or "").startswith("beats")
                and r["ensemble"]["ic"] is not None else r["defaults"]} for r in mine]
        print(f"  policy 'the ensemble when (a) beats, else the defaults': median test IC "
              f"{_median([x['p']['ic'] for x in pol]):+.4f}, - defaults {_paired(pol, 'p')}")


FOLDS_ARMS = ("winner", "ensemble", "recommended", "recommended_ens")  # the arms the folds study's verdict judges


def reverdict(doc: dict[str, Any], keep: Path) -> dict[str, Any]:
    """``doc`` with every verdict recomputed by today's tuner/verdict.py from the studies a ``--keep``
    run kept (no training): a change of the verdict's rule, measured on the very same studies. A market
    whose studies were not kept is left as it was, and said."""
    for key, row in doc["markets"].items():
        for kind, folds, arms in (("single", 1, ("single",)), ("folds", doc["settings"]["folds"], FOLDS_ARMS)):
            found = sorted((keep / key).glob(f"{kind}-*/study.toml"))
            if not found:
                print(f"  {key}: no kept {kind} study under {keep / key}; its verdict is the file's", file=sys.stderr)
                continue
            cfg = dataclasses.replace(load_study_config(found[0]), validation=FoldConfig(folds=folds))
            v = study_verdict(cfg, optuna.load_study(study_name=cfg.name, storage=cfg.storage))
            for arm in arms:
                row[arm] |= {"verdict": v.baselines.outcome if v else None,
                             "verdict_defaults": v.defaults.outcome if v else None}
            if kind == "folds":
                row["verdict_json"] = v.to_json() if v else None
    return doc


def summarize_files(files: list[Path], keep: Path | None = None, out: Path | None = None) -> None:
    """The summary of the markets in ``files``, which must share their settings (one run's, split by kind);
    ``keep``: their verdicts recomputed from the kept studies first (``out``: written there too)."""
    docs = [json.loads(f.read_text()) for f in files]
    if keep is not None:
        docs = [reverdict(d, keep) for d in docs]
        if out is not None:
            for f, d in zip(files, docs):
                save_results(out / f.name, d)
    if any(d.get("settings") != docs[0].get("settings") for d in docs):
        sys.exit(f"{', '.join(map(str, files))} were written with different settings; summarize them one at a time.")
    markets = {k: r for d in docs for k, r in d["markets"].items()}
    rows = [markets[k] for k in sorted(markets, key=lambda k: (k[0], int(k.split("-")[1])))]
    print(f"settings: {docs[0]['settings']}")
    summarize(rows, sorted({r["market"] for r in rows}))


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
    ap.add_argument("--confirm-seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markets", default="a,b", help="a: planted pattern, b: no signal")
    ap.add_argument("--summarize", nargs="+", metavar="FILE", default=None,
                    help="print the summary of results files written with the same settings (e.g. one per --markets "
                         "kind, run side by side) and exit: no training")
    ap.add_argument("--reverdict", default=None, metavar="KEEP",
                    help="with --summarize: recompute every verdict with today's rule from the studies kept in KEEP "
                         "(the run's --keep DIR) before summarizing; no training")
    ap.add_argument("--reverdict-out", default=None, metavar="DIR",
                    help="with --reverdict: also write the re-verdicted results files into DIR (same names)")
    ap.add_argument("--first-seed", type=int, default=1, help="markets first-seed .. first-seed + seeds - 1")
    ap.add_argument("--metric", default="val_mae", choices=sorted(OBJECTIVES),
                    help="the studies' metric: what ranks trials, prunes and picks each trial's best epoch")
    ap.add_argument("--refit-epochs", default="budget", choices=REFIT_EPOCHS,
                    help="the studies' refit_epochs rule: what confirmation and the refits train (results files "
                         "written before this option used \"best\" and are not resumed under another rule)")
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="keep each market's studies in DIR/<kind>-<seed> (default: a temporary directory)")
    ap.add_argument("--out", default="runs/bench-payoff/results.json",
                    help="results, one entry per market, written after each; a rerun skips the markets done")
    args = ap.parse_args()
    if args.summarize:
        return summarize_files([Path(f) for f in args.summarize], Path(args.reverdict) if args.reverdict else None,
                               Path(args.reverdict_out) if args.reverdict_out else None)
    args.seeds = args.seeds or (2 if args.quick else 10)
    args.n_trials = args.n_trials or (6 if args.quick else 12)
    args.epochs = args.epochs or (5 if args.quick else 8)
    args.samples = args.samples or (4096 if args.quick else 8192)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}, optuna {optuna.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"markets {args.tickers} tickers x {args.days} days, pattern {args.pattern}; {args.n_trials} trials per "
          f"study, {args.epochs} epochs x {args.samples} samples, patience 2; folds study: {args.folds} folds, top "
          f"{args.top_k} + the defaults confirmed with {args.confirm_seeds} seeds; {args.seeds} seeds; "
          f"{args.threads} threads")
    out = Path(args.out)
    kinds = args.markets.split(",")
    args.arms = list(ARMS)
    settings = {k: getattr(args, k) for k in SETTINGS}
    if args.metric != "val_mae":  # files of the default metric (written before the option) keep their settings
        settings["metric"] = args.metric
    settings["refit_epochs"] = args.refit_epochs  # always: files without it were refitted at the best epoch
    doc = load_results(out, settings)
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:  # the kinds interleaved: a run cut short has some of each
        for kind in kinds:
            key = f"{kind}-{seed}"
            if key in doc["markets"]:
                print(f"  ({kind}) seed {seed}: done in {out}, skipped")
                continue
            started = time.perf_counter()
            if args.keep:  # the studies (databases, series, artifacts) stay, for analyses after the run
                shutil.rmtree(keep := Path(args.keep) / key, ignore_errors=True)
                r = one_market(kind, seed, args, keep)
            else:
                with tempfile.TemporaryDirectory(prefix="stocktune-payoff-") as tmp:
                    r = one_market(kind, seed, args, Path(tmp))
            r["load_average"] = os.getloadavg()[0]
            r["seconds"] = round(time.perf_counter() - started, 1)
            doc["markets"][key] = r
            save_results(out, doc)
            oracle = f" oracle IC {r['oracle_ic']:+.4f}" if "oracle_ic" in r else ""
            print(f"  ({kind}) seed {seed}{oracle}  " + "  ".join(
                f"{arm}: " + ("no trial" if r[arm]["ic"] is None else
                              f"IC {r[arm]['ic']:+.4f} skill {r[arm]['skill']:+.4f} ep {r[arm]['epochs']}")
                + (f" [{'beats' if r[arm]['verdict'].startswith('beats') else 'noise'}]"
                   if r[arm].get("verdict") else "") for arm in ARMS)
                  + f"  ({time.perf_counter() - t0:.0f}s, load {os.getloadavg()[0]:.1f})", flush=True)
    rows = [r for k in kinds for s in seeds if (r := doc["markets"].get(f"{k}-{s}"))]
    summarize(rows, kinds)
    print(f"\ntotal {time.perf_counter() - t0:.0f}s this run; load average at the end {os.getloadavg()[0]:.1f}; "
          f"rows: {out}")


if __name__ == "__main__":
    main()
