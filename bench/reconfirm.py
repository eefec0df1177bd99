"""A kept folds study confirmed again under another ``refit_epochs`` rule: its verdict and what ships.

`refit_epochs = "budget"` changes two things at once: the final refit trains the whole [train]
budget (bench/refit_epochs.py measures that alone), and the confirmation runs train that many epochs
too, so the verdict scores the model that ships. This measures the second: for each market a
`bench/payoff.py --keep DIR` run kept, it copies the folds study (database and series), deletes its
confirmation, confirms it again as the product does (`run_confirmation`, the same top-k and seeds)
under the rule asked for, and prints the verdict, what `what_to_ship` then recommends, and the test
IC of the winner's and the defaults' refits (the ensemble's members and seeds do not change with the
rule: bench/refit_epochs.py --arm ensemble scores them). The search itself is not rerun.

    python bench/reconfirm.py --keep runs/payoff-full/keep bench/figures/payoff-full-a.json --out r.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.payoff import exported, test_score  # noqa: E402
from data_prep import prepare  # noqa: E402
from data_prep.folds import FoldConfig  # noqa: E402
from tuner.export import what_to_ship  # noqa: E402
from tuner.study_config import REFIT_EPOCHS, load_study_config  # noqa: E402
from tuner.verdict import study_verdict  # noqa: E402
from tuner.worker import run_confirmation  # noqa: E402


def reconfirm(folds_dir: Path, work: Path, settings: dict[str, Any], rule: str, threads: int) -> dict[str, Any]:
    """Confirm a copy of ``folds_dir``'s study in ``work`` under ``rule``; the verdict and the refits."""
    copy = work / folds_dir.name
    shutil.copytree(folds_dir, copy, ignore=shutil.ignore_patterns("*.lock", "*.toml"))
    text = (folds_dir / "study.toml").read_text().splitlines()
    text = [f'storage = "sqlite:///{copy}/study.db"', f'artifacts = "{copy}/artifacts"'] + \
        [ln for ln in text if not ln.startswith(("storage =", "artifacts ="))]
    (copy / "study.toml").write_text("\n".join(text) + "\n")
    cfg = dataclasses.replace(load_study_config(copy / "study.toml"), validation=FoldConfig(folds=settings["folds"]),
                              refit_epochs=rule)
    optuna.delete_study(study_name=f"{cfg.name}.confirm", storage=cfg.storage)
    shutil.rmtree(cfg.artifacts / "series" / f"{cfg.name}.confirm", ignore_errors=True)
    started = time.perf_counter()
    if run_confirmation(cfg, settings["top_k"], settings["confirm_seeds"], threads=threads).interrupted:
        # a stopped confirmation is not a result: nothing is written for this market
        raise SystemExit(f"{folds_dir}: the confirmation was interrupted; this market is not written")
    seconds = time.perf_counter() - started
    v = study_verdict(cfg, optuna.load_study(study_name=cfg.name, storage=cfg.storage))
    files = exported(cfg, copy, True)
    prep = prepare(cfg.data.source, cfg.data.prep, Path(os.environ["STOCKTUNE_CACHE"]))
    scores = {}
    for arm in ("defaults", "winner"):
        f = files.get(arm)
        if f and f.get("file"):
            ic, skill, ep, _ = test_score(prep, f["file"], threads)
            scores[arm] = {"ic": ic, "skill": skill, "refit_epochs": ep, "trial": f["trial"]}
    return {"rule": rule, "confirm_seconds": round(seconds, 1), "verdict_json": v.to_json() if v else None,
            "ship": what_to_ship(v), **scores}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="bench/payoff.py results files of a --keep run")
    ap.add_argument("--keep", required=True, help="the --keep DIR of that run")
    ap.add_argument("--rule", default="budget", choices=REFIT_EPOCHS)
    ap.add_argument("--only", action="append", default=None, help="only these markets, e.g. a-3 (repeatable)")
    ap.add_argument("--confirm-seeds", type=int, default=None,
                    help="confirm with this many seeds (default: the run's); the ensemble's members follow them")
    ap.add_argument("--top-k", type=int, default=None, help="confirm this many configurations (default: the run's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True, help="rows as JSON, written after every market; a rerun skips those done")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    rows: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    for f in args.results:
        doc = json.loads(Path(f).read_text())
        for key, row in doc["markets"].items():
            if (args.only and key not in args.only) or key in rows:
                continue
            found = sorted((Path(args.keep) / key).glob("folds-*"))
            if not found:
                print(f"  {key}: no kept folds study", file=sys.stderr)
                continue
            os.environ["STOCKTUNE_CACHE"] = str(Path(args.keep) / key / "cache")
            with tempfile.TemporaryDirectory(prefix="stocktune-reconfirm-") as tmp:
                settings = {**doc["settings"], **{k: v for k, v in (("confirm_seeds", args.confirm_seeds),
                                                                    ("top_k", args.top_k)) if v is not None}}
                r = reconfirm(found[0], Path(tmp), settings, args.rule, args.threads)
                r["settings"] = {k: settings[k] for k in ("top_k", "confirm_seeds")}
            r["load_average"] = os.getloadavg()[0]
            rows[key] = r
            out.write_text(json.dumps(rows, indent=1))
            v = (r["verdict_json"] or {}).get("baselines", {})
            print(f"  {key}: confirmed in {r['confirm_seconds']:.0f} s; (a) {v.get('outcome')} (z {v.get('z', 0):+.2f} "
                  f"vs {v.get('bar_z', 0):.2f}); (b) {(r['verdict_json'] or {}).get('defaults', {}).get('outcome')}; "
                  f"ships {r['ship']}; winner {r.get('winner', {}).get('ic', float('nan')):+.4f} (was "
                  f"{row['winner']['ic']:+.4f}), defaults {r.get('defaults', {}).get('ic', float('nan')):+.4f} "
                  f"(was {row['defaults']['ic']:+.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
