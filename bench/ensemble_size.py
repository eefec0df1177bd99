"""How big should the final ensemble be? Configurations (top-k) x seeds, from the same kept searches.

The product's recommendation is the confirmed top-k configurations plus the defaults, each refitted
with the confirmation's seeds and averaged (`export --ensemble`). Its size is two knobs of [confirm]
(top_k, seeds). This measures them without searching again: for each market a `bench/payoff.py
--keep DIR` run kept, it ranks the folds study's COMPLETE trials by their search value (the order
confirmation takes its top-k from), refits the defaults and the best ``--top`` other trials with
``--seeds`` fresh seeds each for the [train] budget (as `fit --final` trains them under
refit_epochs = "budget"), saves every refit's test-period predictions, and then scores every
ensemble (top-k in 0..top, seeds in 1..seeds; k = 0 is "the defaults x seeds", no tuning at all)
from the saved predictions. The single defaults model a user has without tuning (seed = [train]
seed) is refitted too: the baseline every ensemble is paired with.

Note what it does not do: confirmation would re-rank the top-k by their confirmed value, but the
ensemble averages all of them, so the order inside the top-k does not matter; confirmation itself
(its verdict and cost under a size) is bench/reconfirm.py's, read here with --reconfirm.

    python bench/ensemble_size.py --keep runs/payoff-full/keep --only a-1 --out r.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.payoff import paired_text  # noqa: E402
from data_prep import prepare  # noqa: E402
from model.evaluation import _train_mean, score_predictions  # noqa: E402
from model.inference import predict  # noqa: E402
from model.refit import final_config, fit_run  # noqa: E402
from model.run_file import load_run_config  # noqa: E402
from tuner.confirm import SEED_BASE as FIRST_SEED  # noqa: E402
from tuner.defaults_arm import defaults_number  # noqa: E402
from tuner.export import SHIP_ENSEMBLE, SHIP_WINNER, run_document  # noqa: E402
from tuner.study_config import load_study_config  # noqa: E402
from tuner.trials import ranked  # noqa: E402


def ensemble_configs(ranked_numbers: list[int], defaults: int, k: int) -> list[int]:
    """The configurations `enqueue_confirmation` confirms with top_k = k, and `export --ensemble`
    averages: the k best trials by search value, and the defaults trial when it is not among them
    (k = 0: the defaults alone)."""
    top = ranked_numbers[:k]
    return top + ([defaults] if defaults not in top else [])


def train_config(cfg: Any, trial: Any, work: Path) -> Any:
    """The trial's final refit for the [train] budget, as `export` + `fit --final` build it."""
    import tomli_w

    f = work / f"trial{trial.number}.toml"
    f.write_bytes(tomli_w.dumps(run_document(cfg, trial)).encode())
    rc = load_run_config(f)
    return final_config(rc.train, rc.train.epochs)


def test_predictions(prep: Any, tc: Any, seed: int | None, cache: Path, threads: int) -> np.ndarray:
    """One refit's test-period predictions (saved in ``cache``: a rerun trains nothing twice)."""
    if cache.is_file():
        return np.load(cache)
    if seed is not None:
        tc = dataclasses.replace(tc, seed=seed)
    net = fit_run(prep, tc, final=True, threads=threads).result.model
    ds = prep.dataset()
    pred = predict(net, ds, np.asarray(ds.split("test").end_idx), batch_size=tc.eval_batch_size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, pred)
    return pred


def one_market(key: str, keep: Path, preds: Path, top: int, seeds: int, threads: int) -> dict[str, Any]:
    folds = sorted((keep / key).glob("folds-*"))[0]
    os.environ["STOCKTUNE_CACHE"] = str(keep / key / "cache")
    cfg = load_study_config(folds / "study.toml")
    trials = optuna.load_study(study_name=cfg.name, storage=cfg.storage).get_trials(deepcopy=False)
    best = ranked(trials, cfg.direction)
    d = defaults_number(trials)
    defaults = next(t for t in best if t.number == d)
    others = [t for t in best if t.number != d][:top]
    prep = prepare(cfg.data.source, cfg.data.prep, keep / key / "cache")
    ds = prep.dataset()
    sa = ds.split("test")
    dates = ds.date[np.asarray(sa.end_idx)]
    started = time.perf_counter()
    p: dict[tuple[int, int | None], np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tcs = {t.number: train_config(cfg, t, Path(tmp)) for t in [defaults, *others]}
    train_mean = _train_mean(ds, tuple(tcs[d].train_splits))

    def score(pred: np.ndarray) -> dict[str, float]:
        m = score_predictions(pred, sa.target, sa.ret, dates, train_mean, ds.look_ahead).metrics
        return {"ic": m.ic, "skill": m.skill_half}

    p[(d, None)] = test_predictions(prep, tcs[d], None, preds / key / f"trial{d}-own.npy", threads)
    for s in range(FIRST_SEED, FIRST_SEED + seeds):  # seed-major: a run cut short has every config at 1 seed
        for t in [defaults, *others]:
            p[(t.number, s)] = test_predictions(prep, tcs[t.number], s, preds / key / f"trial{t.number}-{s}.npy", threads)
        print(f"  {key}: seed {s} done ({time.perf_counter() - started:.0f} s)", flush=True)
    row: dict[str, Any] = {"market": key, "ranked": [t.number for t in best], "defaults": score(p[(d, None)]),
                           "members": {f"{t}-{s}": score(v) for (t, s), v in p.items() if s is not None},
                           "ensembles": {}}
    epochs = {n: tc.epochs for n, tc in tcs.items()}
    for k in range(0, top + 1):
        configs = ensemble_configs([t.number for t in best], d, k)
        for n in range(1, seeds + 1):
            members = [p[(c, s)] for c in configs for s in range(FIRST_SEED, FIRST_SEED + n)]
            row["ensembles"][f"{k}x{n}"] = {**score(np.mean(members, axis=0)), "configs": configs,
                                          "epochs": sum(epochs[c] for c in configs) * n}
    return row


def summarize(rows: list[dict[str, Any]], oracle: dict[str, float]) -> None:
    keys = sorted({e for r in rows for e in r["ensembles"]}, key=lambda s: tuple(map(int, s.split("x"))))
    for kind in ("a", "b"):
        mine = [r for r in rows if r["market"].startswith(kind + "-")]
        if not mine:
            continue
        print(f"\n({kind}) {len(mine)} markets: ensemble (top-k configs + the defaults) x seeds, "
              "paired with the single defaults model (mean ± SE, W/T/L)")
        print("| top-k x seeds | configs (median) | epochs (median) | median test IC | of oracle | "
              "IC - defaults | skill - defaults | IC - defaults x same seeds |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for k in keys:
            have = [r for r in mine if k in r["ensembles"]]
            if not have:  # a size run on the other kind of market only
                continue
            e = [r["ensembles"][k] for r in have]
            ic = [x["ic"] for x in e]
            same = f"0x{k.split('x')[1]}"
            paired = [paired_text([x["ic"] - r["defaults"]["ic"] for x, r in zip(e, have)]),
                      paired_text([x["skill"] - r["defaults"]["skill"] for x, r in zip(e, have)]),
                      paired_text([x["ic"] - r["ensembles"][same]["ic"] for x, r in zip(e, have)])]
            frac = [i / oracle[r["market"]] for i, r in zip(ic, have) if oracle.get(r["market"])]
            print(f"| {k} | {statistics.median(len(x['configs']) for x in e):.0f} | "
                  f"{statistics.median(x['epochs'] for x in e):.0f} | {statistics.median(ic):+.4f} | "
                  + (f"{statistics.median(frac):.0%}" if frac else "-") + " | "
                  + " | ".join(paired) + " |")
        d = [r["defaults"]["ic"] for r in mine]
        print(f"single defaults model: median test IC {statistics.median(d):+.4f}")


def recommended(rows: list[dict[str, Any]], confirms: dict[str, Any], oracle: dict[str, float]) -> None:
    """What the product recommends under a re-confirmation (bench/reconfirm.py --confirm-seeds S --out
    FILE): the verdict's counts and, per market with saved refits, what `what_to_ship` names - the
    ensemble of top-k x S, the winner's refit, or the defaults - paired with the single defaults model."""
    by_key = {r["market"]: r for r in rows}
    for kind in ("a", "b"):
        mine = {k: c for k, c in confirms.items() if k.startswith(kind + "-")}
        if not mine:
            continue
        v = [c["verdict_json"] for c in mine.values()]
        secs = [c["confirm_seconds"] for c in mine.values()]
        print(f"\n({kind}) confirmed again: {len(mine)} markets, {sorted({str(c.get('settings')) for c in mine.values()})}: "
              f"(a) beats {sum(x['baselines']['beats'] for x in v)}/{len(v)}, (b) better "
              f"{sum(x['defaults']['outcome'] == 'better than the defaults' for x in v)}/{len(v)}; ships "
              f"{sorted({c['ship'] for c in mine.values()})}; confirmation {min(secs):.0f}-{max(secs):.0f} s "
              f"(median {statistics.median(secs):.0f})")
        pairs = []  # (recommended, the single defaults model, market)
        for k, c in mine.items():
            if k not in by_key:
                continue
            r, st = by_key[k], c.get("settings", {})
            if c["ship"] == SHIP_ENSEMBLE:
                pick = r["ensembles"].get(f"{st.get('top_k')}x{st.get('confirm_seeds')}")
            else:
                pick = c.get("winner") if c["ship"] == SHIP_WINNER else r["defaults"]
            if pick:
                pairs.append((pick, r["defaults"], k))
        if len(pairs) < 2:
            continue
        frac = [p["ic"] / oracle[k] for p, _, k in pairs if oracle.get(k)]
        print(f"({kind}) recommended ({len(pairs)} markets): median test IC {statistics.median(p['ic'] for p, _, _ in pairs):+.4f}"
              + (f" ({statistics.median(frac):.0%} of the oracle)" if frac else "")
              + f"; - the defaults: IC {paired_text([p['ic'] - d['ic'] for p, d, _ in pairs])}, "
              f"skill {paired_text([p['skill'] - d['skill'] for p, d, _ in pairs])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", required=True, help="the --keep DIR of a bench/payoff.py run")
    ap.add_argument("--results", nargs="*", default=[], help="its results files (for the oracle IC)")
    ap.add_argument("--only", action="append", default=None, help="only these markets, e.g. a-3 (repeatable)")
    ap.add_argument("--top", type=int, default=5, help="the most tuned configurations in an ensemble")
    ap.add_argument("--seeds", type=int, default=3, help="the most seeds per configuration")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--preds", default="runs/ensemble-size/preds", help="saved test predictions (resumable)")
    ap.add_argument("--out", default=None, help="write the rows as JSON here (after every market)")
    ap.add_argument("--summarize", nargs="*", default=None, metavar="FILE", help="only print the summary of these")
    ap.add_argument("--reconfirm", nargs="*", default=[], metavar="FILE",
                    help="with --summarize: bench/reconfirm.py --out files; print what the product recommends under them")
    args = ap.parse_args(argv)
    oracle = {k: r.get("oracle_ic") for f in args.results for k, r in json.loads(Path(f).read_text())["markets"].items()}
    if args.summarize is not None:
        rows = [r for f in args.summarize for r in json.loads(Path(f).read_text())]
        summarize(rows, oracle)
        if args.reconfirm:
            recommended(rows, {k: c for f in args.reconfirm for k, c in json.loads(Path(f).read_text()).items()}, oracle)
        return 0
    torch.set_num_threads(args.threads)
    keep = Path(args.keep)
    keys = args.only or sorted((d.name for d in keep.iterdir() if d.is_dir()), key=lambda k: (k[0], int(k[2:])))
    rows: list[dict[str, Any]] = []
    for key in keys:
        rows.append(one_market(key, keep, Path(args.preds), args.top, args.seeds, args.threads))
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))
    summarize(rows, oracle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
