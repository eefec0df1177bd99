"""How many epochs should the final refit train? The best epoch of the trial, or the configured budget.

`stocktune fit --final` trains a run file for the epoch its trial reached its best validation metric at
(the median over the folds), so the model that ships is the one the verdict scored. With a noisy,
flat validation MAE and early stopping (patience 2) that epoch is often early: in the payoff
bench's full budget the defaults' refit trained 3-4 of 8 epochs. This refits the run files a
`bench/payoff.py --keep DIR` run exported (the defaults and the winner of each folds study) for the
configured [train] epochs instead, scores them once on the same test period, and pairs them with the
results file's best-epoch refits (mean ± SE over markets, wins / ties / losses).

    python bench/refit_epochs.py --keep runs/payoff-full/keep bench/figures/payoff-full-a.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.payoff import paired_stats, score_members  # noqa: E402
from data_prep import prepare  # noqa: E402
from model.evaluation import evaluate_split  # noqa: E402
from model.refit import final_config, fit_run, train_config_for  # noqa: E402
from model.run_file import load_run_config  # noqa: E402

ARMS = ("defaults", "winner", "ensemble")


def refit_at_budget(key: str, keep: Path, arm: str, threads: int) -> dict[str, Any] | None:
    """The arm's run file refitted for its [train] epochs (an ensemble: each member for its own
    [members.train] epochs, averaged as `evaluate` averages them), scored on the test period."""
    folds = sorted((keep / key).glob("folds-*"))
    if not folds or not (folds[0] / f"{arm}.toml").is_file():
        return None
    rc = load_run_config(folds[0] / f"{arm}.toml")
    os.environ["STOCKTUNE_CACHE"] = str(keep / key / "cache")
    prep = prepare(rc.data.source, rc.data.prep, keep / key / "cache")
    if rc.members:
        members = [(m, final_config(m.train, m.train.epochs)) for m in rc.members]
        ic, skill, epochs, alone = score_members(prep, members, threads)
        return {"ic": ic, "skill": skill, "epochs": epochs, "best_epoch": [m.epochs for m in rc.members],
                "member_scores": alone}
    cfg = train_config_for(rc, final=True, epochs=rc.train.epochs)
    net = fit_run(prep, cfg, final=True, threads=threads).result.model
    ev = evaluate_split(net, prep.dataset(), cfg, split="test").model
    return {"ic": ev.ic, "skill": ev.skill_half, "epochs": cfg.epochs, "best_epoch": rc.best_epoch}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="bench/payoff.py results files")
    ap.add_argument("--keep", required=True, help="the --keep DIR of that run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arm", action="append", choices=ARMS, default=None,
                    help="refit these arms (repeatable; default: defaults and winner)")
    ap.add_argument("--only", action="append", default=None, help="only these markets, e.g. a-3 (repeatable)")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    arms = args.arm or ["defaults", "winner"]
    for f in args.results:
        for key, row in json.loads(Path(f).read_text())["markets"].items():
            if args.only and key not in args.only:
                continue
            for arm in arms:
                if arm == "winner" and row["winner"].get("trial") == row["defaults"].get("trial"):
                    continue  # the winner is the defaults: one refit
                if row[arm].get("ic") is None or (r := refit_at_budget(key, Path(args.keep), arm, args.threads)) is None:
                    continue
                rows.append({"market": key, "arm": arm, "best_epoch_ic": row[arm]["ic"],
                             "refit_epochs": row[arm].get("refit_epochs"), "oracle_ic": row.get("oracle_ic"), **r})
                print(f"  {key} {arm:<9} refit at its best epoch ({row[arm].get('refit_epochs')}): IC "
                      f"{row[arm]['ic']:+.4f}   at the budget ({r['epochs']}): IC {r['ic']:+.4f}", flush=True)
                if args.out:  # after every refit: a run cut short keeps what it measured
                    Path(args.out).write_text(json.dumps(rows, indent=1))
    for kind, arm in ((k, a) for k in ("a", "b") for a in arms):
        mine = [r for r in rows if r["market"].startswith(kind + "-") and r["arm"] == arm]
        if len(mine) < 2:
            continue
        mean, se, w, t, losses = paired_stats([r["ic"] - r["best_epoch_ic"] for r in mine])
        frac = [r["ic"] / r["oracle_ic"] for r in mine if r.get("oracle_ic")]
        print(f"({kind}) {arm}: {len(mine)} refits: at the budget - at the best epoch {mean:+.4f} ± {se:.4f} "
              f"(W/T/L {w}/{t}/{losses})" + (f"; median {statistics.median(frac):.0%} of the oracle" if frac else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
