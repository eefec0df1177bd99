"""Which validation metric should pick the winner among the confirmed configurations? (no training)

A lever of issue 18: the study ranks trials, and confirmation ranks the retrained top-k and the
defaults, by validation MAE (the objective); the product is judged on test rank IC. This reads what a
`bench/payoff.py --keep DIR` run left - each market's folds study (its confirmation runs' per-date
validation series) and, in the results file, the test IC of every member of the `ensemble` arm (each
confirmed configuration refitted with each confirmation seed) - and asks, per market, which configuration
each rule would have picked and how that configuration does on the test period (the mean test IC of
its refits, so one lucky seed does not decide):

  val MAE        the product's rule (the confirmed ranking; skill vs always-0.5 on the same dates ranks
                 the same way, so "MAE skill" is this rule too)
  val rank IC    the mean per-date Spearman IC of the confirmation runs
  oracle pick    the configuration with the best test IC (a bound: no validation rule does better)

paired over markets against the val-MAE rule (mean ± SE, wins / ties / losses).

    python bench/selection_metric.py --keep runs/payoff-full/keep bench/figures/payoff-full-a.json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuner.confirm import confirmed_ranking  # noqa: E402
from tuner.study_config import load_study_config  # noqa: E402
from tuner.verdict import _confirmation_series  # noqa: E402  (the verdict's own reading of the runs)

RULES = ("val MAE", "val rank IC", "oracle pick")


def market_picks(study_dir: Path, members: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per rule, the picked trial and its mean test IC; None when the study was not confirmed."""
    cfg = load_study_config(study_dir / "study.toml")
    study = optuna.load_study(study_name=cfg.name, storage=cfg.storage)
    ranking = confirmed_ranking(study)
    if not ranking:
        return None
    series = _confirmation_series(cfg, study)
    test: dict[int, list[float]] = {}
    for m in members:
        test.setdefault(int(m["trial"]), []).append(float(m["ic"]))
    rows = [r for r in ranking if r.trial in series and r.trial in test]
    if not rows:
        return None
    val_ic = {r.trial: float(np.nanmean(series[r.trial].ic)) for r in rows}
    mean_test = {t: statistics.mean(v) for t, v in test.items()}
    picks = {"val MAE": min(rows, key=lambda r: r.rank).trial,
             "val rank IC": max(rows, key=lambda r: val_ic[r.trial]).trial,
             "oracle pick": max(rows, key=lambda r: mean_test[r.trial]).trial}
    defaults = next((r.trial for r in rows if r.defaults), None)
    return {"picks": picks, "test_ic": {rule: mean_test[t] for rule, t in picks.items()},
            "defaults_test_ic": mean_test.get(defaults) if defaults is not None else None,
            "val_ic": val_ic, "n_configs": len(rows)}


def study_dir_of(keep: Path, key: str) -> Path | None:
    found = sorted((keep / key).glob("folds-*/study.toml"))
    return found[0].parent if found else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="bench/payoff.py results files")
    ap.add_argument("--keep", required=True, help="the --keep DIR of that run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict[str, Any] = {}
    for f in args.results:
        for key, row in json.loads(Path(f).read_text())["markets"].items():
            members = (row.get("ensemble") or {}).get("member_scores")
            d = study_dir_of(Path(args.keep), key)
            if not members or d is None:
                continue
            if (p := market_picks(d, members)) is not None:
                out[key] = p | {"oracle_ic": row.get("oracle_ic")}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for kind, title in (("a", "planted pattern"), ("b", "no signal")):
        mine = {k: v for k, v in out.items() if k.startswith(kind + "-")}
        if not mine:
            continue
        print(f"\n({kind}) {title}: {len(mine)} markets; test IC of the configuration each rule picks "
              "(mean of its refits over the confirmation seeds)")
        for rule in RULES:
            ics = [v["test_ic"][rule] for v in mine.values()]
            d = [v["test_ic"][rule] - v["test_ic"]["val MAE"] for v in mine.values()]
            se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
            w, t = sum(x > 1e-12 for x in d), sum(abs(x) <= 1e-12 for x in d)
            same = sum(v["picks"][rule] == v["picks"]["val MAE"] for v in mine.values())
            print(f"  {rule:<12} median test IC {statistics.median(ics):+.4f}   - val MAE rule: "
                  f"{statistics.mean(d):+.4f} ± {se:.4f}  W/T/L {w}/{t}/{len(d) - w - t}   same pick on {same}/{len(d)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
