"""Data input speed: synthetic generation and load + validate + adjust at the original database's scale.

    python bench/data_input.py [--tickers 2367] [--days 4200] [--repeats 3]

Prints medians of ``--repeats`` runs, the machine, and a baseline measured in the same run: pandas
``sort_values`` + ``drop_duplicates`` on the same rows (what a DataFrame-based validate would pay
before checking anything), so that drifting machine speed shows in both figures.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd

from data_prep.adjust import adjust
from data_prep.sources import load_source, source_key
from data_prep.synthetic import generate
from data_prep.validate import validate

CPU: dict[str, list[float]] = {}


def _timed(fn, name: str | None = None):
    """(wall seconds, result); the process CPU seconds go to CPU[name] (less sensitive to a busy machine)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    if name:
        CPU.setdefault(name, []).append(time.process_time() - c)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tickers", type=int, default=2367)
    ap.add_argument("--days", type=int, default=4200)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    spec = f"synthetic:tickers={a.tickers},days={a.days},seed=0"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {platform.node()} {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    t = {k: [] for k in ("key", "generate", "load", "validate", "adjust", "total", "validate_unsorted", "pandas_sort")}
    for _ in range(a.repeats):
        t["key"].append(_timed(lambda: source_key(spec), "key")[0])
        t["generate"].append(_timed(lambda: generate(a.tickers, a.days, 0), "generate")[0])
        dt, raw = _timed(lambda: load_source(spec), "load")
        t["load"].append(dt)
        dt, v = _timed(lambda raw=raw: validate(raw, 80), "validate")
        t["validate"].append(dt)
        dt, (panel, adj) = _timed(lambda v=v: adjust(v.panel, None), "adjust")  # detection: the expensive path
        t["adjust"].append(dt)
        t["total"].append(t["load"][-1] + t["validate"][-1] + t["adjust"][-1])
        # a long file exported date-major (every ticker interleaved): validate must really sort
        order = np.lexsort((raw.panel.ticker, raw.panel.date))
        shuffled = type(raw)(raw.panel.take(order), raw.content_key, raw.events, raw.kind, raw.description)
        t["validate_unsorted"].append(_timed(lambda shuffled=shuffled: validate(shuffled, 80), "validate_unsorted")[0])
        df = pd.DataFrame({"ticker": raw.panel.ticker[order], "date": raw.panel.date[order],
                           "close": raw.panel.close[order], "volume": raw.panel.volume[order]})
        t["pandas_sort"].append(_timed(lambda df=df: df.sort_values(["ticker", "date"]).drop_duplicates(), "pandas_sort")[0])
    n = len(raw.panel)
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f"rows: {n:,} ({a.tickers} tickers x {a.days} days, {len(raw.events)} planted splits), "
          f"median of {a.repeats}")
    print(f"source_key (the cache lookup) {med['key'] * 1000:6.2f} ms  (no generation: spec + GENERATOR_VERSION)")
    print(f"generate                      {med['generate']:6.2f} s")
    print(f"load (generate + provenance)  {med['load']:6.2f} s")
    print(f"validate (already sorted)     {med['validate']:6.2f} s  {n / med['validate'] / 1e6:6.1f} M rows/s")
    print(f"validate (date-major order)   {med['validate_unsorted']:6.2f} s  {n / med['validate_unsorted'] / 1e6:6.1f} M rows/s")
    print(f"adjust (split detection)      {med['adjust']:6.2f} s  {n / med['adjust'] / 1e6:6.1f} M rows/s")
    print(f"load + validate + adjust      {med['total']:6.2f} s  {n / med['total'] / 1e6:6.1f} M rows/s")
    print(f"baseline: pandas sort_values + drop_duplicates (date-major input) {med['pandas_sort']:6.2f} s")
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    print("process CPU seconds (median): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")
    kept = set(v.panel.tickers)
    planted = {(tk, str(d.date()), round(r, 4)) for tk, d, r in zip(raw.events["ticker"], raw.events["date"],
                                                                    raw.events["ratio"]) if tk in kept}
    found = {(x["ticker"], x["date"], round(x["ratio"], 4)) for x in adj}
    hits = len(planted & found)
    print(f"split detection: recall {hits / len(planted):.4f}, precision {hits / max(len(found), 1):.4f} "
          f"({hits} of {len(planted)} planted, {len(found)} found)")


if __name__ == "__main__":
    main()
