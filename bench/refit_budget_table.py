"""The two refit_epochs rules side by side on the same searches: "best" (bench/payoff.py's arms) against
"budget" (bench/refit_epochs.py's refits and bench/reconfirm.py's confirmations of the kept studies).

Reads a results directory of those scripts' --out files and the payoff results files (verdict version
3, `bench/payoff.py --reverdict`), prints one row per rule x arm (median test IC, of the oracle, paired
differences with SE over markets, W/T/L) and the verdict counts under each rule.

    python bench/refit_budget_table.py bench/figures/refit-budget bench/figures/verdict-v3/payoff-full-*.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.payoff import ARM_OF_SHIP, current_policy, paired_text  # noqa: E402

ARMS = ("defaults", "winner", "ensemble", "recommended")


def _paired(xs: list[float]) -> str:
    if len(xs) < 2:
        return "-"
    return paired_text(xs)


def rows(budget_dir: Path, payoff: list[Path]) -> list[dict[str, Any]]:
    """Per market: each arm's test IC and skill under each rule, and the verdict under "budget"."""
    pay = {k: current_policy(r) for f in payoff for k, r in json.loads(f.read_text())["markets"].items()}
    refits: dict[str, dict[str, Any]] = {}
    confirms: dict[str, Any] = {}
    for f in sorted(budget_dir.glob("*.json")):
        doc = json.loads(f.read_text())
        if isinstance(doc, list):  # bench/refit_epochs.py
            for r in doc:
                refits.setdefault(r["market"], {})[r["arm"]] = r
        else:  # bench/reconfirm.py
            confirms.update(doc)
    out = []
    for key in sorted(pay, key=lambda k: (k[0], int(k.split("-")[1]))):
        p, b, c = pay[key], refits.get(key, {}), confirms.get(key)
        best = {a: p[a] for a in ARMS}
        budget = {a: b[a] for a in ("defaults", "ensemble") if a in b}
        if c:
            budget["winner"] = c.get("winner")
            budget["recommended"] = budget.get(ARM_OF_SHIP.get(c["ship"], "defaults"))
        out.append({"market": key, "oracle_ic": p.get("oracle_ic"), "best": best, "budget": budget,
                    "verdict_budget": c["verdict_json"] if c else None, "ship_budget": c["ship"] if c else None,
                    "confirm_seconds": c["confirm_seconds"] if c else None})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("budget_dir", help="the --out files of bench/refit_epochs.py and bench/reconfirm.py")
    ap.add_argument("payoff", nargs="+", help="bench/payoff.py results files (re-judged: --reverdict)")
    args = ap.parse_args(argv)
    table = rows(Path(args.budget_dir), [Path(f) for f in args.payoff])
    print("| markets | rule | arm | n | median test IC | of oracle | - defaults, same rule (W/T/L) | test skill - defaults, "
          "same rule | - defaults under \"best\" |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for kind in ("a", "b"):
        mine = [r for r in table if r["market"].startswith(kind + "-")]
        for rule in ("best", "budget"):
            for arm in ARMS:
                sel = [r for r in mine if r[rule].get(arm) and r[rule].get("defaults")]
                if not sel:
                    continue
                ic = statistics.median(r[rule][arm]["ic"] for r in sel)
                frac = f"{statistics.median(r[rule][arm]['ic'] / r['oracle_ic'] for r in sel):.0%}" if kind == "a" else "-"
                same = [r[rule][arm]["ic"] - r[rule]["defaults"]["ic"] for r in sel]
                skill = [r[rule][arm]["skill"] - r[rule]["defaults"]["skill"] for r in sel]
                old = [r[rule][arm]["ic"] - r["best"]["defaults"]["ic"] for r in sel]
                print(f"| ({kind}) | {rule} | {arm} | {len(sel)} | {ic:+.4f} | {frac} | "
                      f"{_paired(same) if arm != 'defaults' else '-'} | {_paired(skill) if arm != 'defaults' else '-'} | "
                      f"{_paired(old)} |")
        judged = [r for r in mine if r["verdict_budget"]]
        if judged:
            beats = sum(r["verdict_budget"]["baselines"]["beats"] for r in judged)
            better = sum(r["verdict_budget"]["defaults"]["outcome"] == "better than the defaults" for r in judged)
            secs = [r["confirm_seconds"] for r in judged]
            print(f"({kind}) under \"budget\": (a) beats {beats}/{len(judged)}, (b) better {better}/{len(judged)}; "
                  f"ships {sorted({r['ship_budget'] for r in judged})}; confirmation {min(secs):.0f}-{max(secs):.0f} s "
                  f"(median {statistics.median(secs):.0f})")
        print(f"({kind}) under \"best\" (verdict version 3): (a) beats "
              f"{sum((r['best']['winner'].get('verdict') or '').startswith('beats') for r in mine)}/{len(mine)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
