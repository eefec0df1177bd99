"""Benchmark data prep on the synthetic market at the original database's scale (2,367 x 4,200 days).

Each measurement runs in a fresh child process (so peak RSS is its own) and is repeated; medians
are printed. Side by side, in the same run and on the same machine:

- the whole `prepare()` (stages: key = the cache key from the source spec/file hashes, load =
  generate the synthetic market, validate (+adjust), split, features (+ scaling, computed straight
  into the memory-mapped features.npy), target, cache_write (the small npy files + report + PNGs)),
  wall and CPU time, peak RSS after each stage and rows/s; the whole prep with and without the
  market generation;
- optionally (``--baseline-root DIR``) the same `prepare()` from another checkout of the repo (e.g.
  the code before an optimization), run in the same invocation for a before/after on one machine;
- the features alone: this package's numpy implementation (blocks of whole tickers) vs a
  straightforward pandas groupby/rolling/ewm implementation of the same features;
- loading the cached dataset (`PreparedDataset.load`, memory-mapped) and a `prepare()` cache hit.

The feature blocks run on all cores the process may use; STOCKTUNE_PREP_THREADS=1 forces one.

``--files`` measures the path users take instead: the same market written once as files (a
directory of per-ticker CSVs, one long Parquet file, a directory of per-ticker Parquet files), each
prepared by `stocktune prep --data SOURCE` in a fresh process with a cold (empty) dataset cache,
next to `stocktune prep --data synthetic:...` (the generated market) in the same run. It prints
wall time, the parse time (report.json's ``load`` stage; ``key`` is the hashing of the files),
the child's peak RSS (``os.wait4``) and the load average around each run, then the CPU seconds of
each stage (report.json's ``cpu_s``) and of the whole process: on a shared machine CPU time says
what the code costs when wall time mostly says what the other jobs did.

    python bench/prep.py                       # full scale, 3 runs each
    python bench/prep.py --tickers 200 --days 1500 --runs 1   # quick
    python bench/prep.py --baseline-root /path/to/old/checkout   # before/after, same run
    python bench/prep.py --files --seed 7      # files: 2,367 x 4,200 (~8.2M rows), 3 runs each
    python bench/prep.py --files --quick       # files: 300 x 1,500, 1 run each
    python bench/prep.py --files --keep /tmp/market   # write the files once, reuse them next time
    python bench/prep.py --files --baseline-root /tmp/before --baseline-runs 1   # + an older checkout
    python bench/prep.py --files --keep /tmp/market --only "parquet directory"   # one source only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# a child measuring another checkout (--baseline-root) imports data_prep from there
sys.path.insert(0, os.environ.get("BENCH_PREP_ROOT") or str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pandas_features(panel) -> np.ndarray:
    """The same features, written the obvious way with pandas groupby + rolling/ewm (the baseline)."""
    import pandas as pd

    df = pd.DataFrame({"t": panel.ticker, "o": panel.open, "h": panel.high, "l": panel.low, "c": panel.close,
                       "v": panel.volume})
    g = df.groupby("t", sort=False)
    c = df["c"]
    logc = np.log(c)
    prev = g["c"].shift(1)
    r = np.log(c / prev)
    logv = np.log1p(df["v"])

    def roll(s: pd.Series, w: int, how: str) -> pd.Series:
        return getattr(s.groupby(df["t"], sort=False).rolling(w), how)().reset_index(level=0, drop=True)

    def ewm(s: pd.Series, alpha: float) -> pd.Series:
        return s.groupby(df["t"], sort=False).ewm(alpha=alpha, adjust=False).mean().reset_index(level=0, drop=True)

    f = {
        "log_open": np.log(df["o"] / prev), "log_high": np.log(df["h"] / prev), "log_low": np.log(df["l"] / prev),
        "log_close": r, "log_range": np.log(df["h"] / df["l"]),
        "log_volume_change": logv - logv.groupby(df["t"]).shift(1),
        "volume_ratio_20": logv - roll(logv, 20, "mean"),
        "ret_5": logc - logc.groupby(df["t"]).shift(5), "ret_20": logc - logc.groupby(df["t"]).shift(20),
    }
    for w in (5, 20, 60, 120):
        f[f"ma_ratio_{w}"] = np.log(roll(c, w, "mean") / c)
    r0 = r.fillna(0.0)
    gain, loss = ewm(r0.clip(lower=0), 1 / 14), ewm((-r0).clip(lower=0), 1 / 14)
    f["rsi_14"] = gain / (gain + loss) - 0.5
    macd = (ewm(c, 2 / 13) - ewm(c, 2 / 27)) / c
    sig = ewm(macd, 0.2)
    f["macd"], f["macd_signal"], f["macd_hist"] = macd, sig, macd - sig
    m20, s20 = roll(c, 20, "mean"), roll(c, 20, "std") * np.sqrt(19 / 20)
    f["bb_pctb_20"] = (c - (m20 - 2 * s20)) / (4 * s20)
    tr = pd.concat([df["h"] - df["l"], (df["h"] - prev).abs(), (df["l"] - prev).abs()], axis=1).max(axis=1)
    f["atr_14"] = ewm(tr, 1 / 14) / c

    def mid(w: int) -> pd.Series:
        return (roll(df["h"], w, "max") + roll(df["l"], w, "min")) / 2

    conv, base = mid(9), mid(26)
    f["ichimoku_conversion"] = np.log(conv / c)
    f["ichimoku_base"] = np.log(base / c)
    f["ichimoku_span_a"] = np.log(((conv + base) / 2).groupby(df["t"]).shift(26) / c)
    f["ichimoku_span_b"] = np.log(mid(52).groupby(df["t"]).shift(26) / c)
    f["volatility_20"] = roll(r, 20, "std") * np.sqrt(19 / 20)
    from data_prep.features import FEATURE_NAMES
    return np.stack([f[n].to_numpy(np.float64) for n in FEATURE_NAMES], axis=1).astype(np.float32)


def child(args: argparse.Namespace) -> dict:
    from data_prep import PreparedDataset, PrepConfig, prepare
    from data_prep.pipeline import min_rows

    source = f"synthetic:tickers={args.tickers},days={args.days},seed={args.seed}"
    cfg = PrepConfig()
    if args.child == "prep":
        t = time.perf_counter()
        c = time.process_time()
        res = prepare(source, cfg, Path(args.cache))
        total = time.perf_counter() - t
        return {"total_s": total, "rows": res.report.n_rows, "timings": dict(res.report.timings_s),
                "cpu": dict(res.report.cpu_s), "total_cpu_s": time.process_time() - c,
                "rss": dict(res.report.peak_rss_mb), "peak_rss_mb": rss_mb(), "path": str(res.path),
                "windows": {s: v.n_windows for s, v in res.report.splits.items()}}
    if args.child == "load":
        t = time.perf_counter()
        ds = PreparedDataset.load(args.path)
        load_s = time.perf_counter() - t
        rng = np.random.default_rng(0)
        ends = np.sort(rng.choice(ds.split("train").end_idx, 256, replace=False))
        t = time.perf_counter()
        batch = ds.features[ends[:, None] + np.arange(-ds.look_back + 1, 1)[None, :]]  # [256, L, F]
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        hit = prepare(source, cfg, Path(args.cache))
        hit_s = time.perf_counter() - t
        assert hit.cached
        return {"load_s": load_s, "batch_s": batch_s, "batch_shape": list(batch.shape), "hit_s": hit_s,
                "peak_rss_mb": rss_mb()}
    # features alone: same input panel for both implementations
    from data_prep import adjust, load_source, validate
    raw = load_source(source)
    panel, _ = adjust(validate(raw, min_rows(cfg)).panel, raw.events, cfg.adjust)
    del raw
    before = rss_mb()
    t = time.perf_counter()
    c = time.process_time()
    if args.child == "numpy":
        from data_prep.features import compute_features
        compute_features(panel)
    else:
        pandas_features(panel)
    return {"features_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "rows": len(panel),
            "rss_before_mb": before,
            "peak_rss_mb": rss_mb()}


def run_child(kind: str, args: argparse.Namespace, root: str | None = None, **extra: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--tickers", str(args.tickers), "--days", str(args.days),
           "--seed", str(args.seed)]
    for k, v in extra.items():
        cmd += [f"--{k}", v]
    env = {**os.environ, "BENCH_PREP_ROOT": root} if root else None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def check_agreement() -> float:
    """Max abs difference between the numpy and pandas features on a small panel (after warm-up)."""
    from data_prep.features import WARMUP, compute_features
    from data_prep.synthetic import generate

    panel, _ = generate(20, 600, 1)
    a, b = compute_features(panel), pandas_features(panel)
    pos = np.arange(len(panel)) - panel.starts[panel.ticker]
    keep = pos >= WARMUP
    with np.errstate(invalid="ignore"):
        diff = np.abs(a[keep] - b[keep])
    return float(np.nanmax(diff))


def print_prep(title: str, preps: list[dict], rows: int) -> None:
    print(f"\n{title} on {rows:,} rows, windows {preps[0]['windows']}")
    print(f"{'stage':<12} {'wall s':>8} {'CPU s':>7} {'rows/s':>12} {'peak RSS MB':>12}   (wall, all runs)")
    for stage in preps[0]["timings"]:
        ts = [p["timings"][stage] for p in preps]
        print(f"{stage:<12} {med(ts):8.2f} {med([p['cpu'][stage] for p in preps]):7.2f} "
              f"{(f'{rows / med(ts):,.0f}' if med(ts) >= 0.01 else '-'):>12} {med([p['rss'][stage] for p in preps]):12,.0f}   "
              f"{', '.join(f'{x:.2f}' for x in ts)}")
    tot = [p["total_s"] for p in preps]
    no_gen = [p["total_s"] - p["timings"]["load"] for p in preps]
    no_gen_cpu = [p["total_cpu_s"] - p["cpu"]["load"] for p in preps]
    print(f"{'TOTAL':<12} {med(tot):8.2f} {med([p['total_cpu_s'] for p in preps]):7.2f} {rows / med(tot):12,.0f} "
          f"{med([p['peak_rss_mb'] for p in preps]):12,.0f}   {', '.join(f'{x:.2f}' for x in tot)}")
    print(f"{'TOTAL-load':<12} {med(no_gen):8.2f} {med(no_gen_cpu):7.2f} {rows / med(no_gen):12,.0f} {'':>12}   "
          f"{', '.join(f'{x:.2f}' for x in no_gen)}  (without generating the synthetic market)")


def write_files(root: Path, tickers: int, days: int, seed: int) -> dict[str, str]:
    """The market as a CSV directory, one long Parquet file and a Parquet directory (written once)."""
    import pandas as pd

    from data_prep.synthetic import generate, write_market

    spec = f"tickers={tickers},days={days},seed={seed}"
    sources = {"csv directory": root / "csv", "long parquet": root / "prices.parquet",
               "parquet directory": root / "parquet"}
    marker = root / "market.txt"
    if marker.is_file() and marker.read_text() == spec:
        print(f"files: reusing {root} ({spec})")
        return {k: str(v) for k, v in sources.items()}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t = time.perf_counter()
    write_market(root / "csv", tickers, days, seed, fmt="csv")
    write_market(root / "parquet", tickers, days, seed, fmt="parquet")
    panel, _ = generate(tickers, days, seed)
    pd.DataFrame({"Ticker": np.array(panel.tickers)[panel.ticker], "Date": panel.date, "Open": panel.open,
                  "High": panel.high, "Low": panel.low, "Close": panel.close,
                  "Volume": panel.volume.astype(np.int64)}).to_parquet(root / "prices.parquet", index=False)
    marker.write_text(spec)
    size = sum(f.stat().st_size for f in (root / "csv").iterdir()) / 2**20
    print(f"files: wrote {root} in {time.perf_counter() - t:.0f} s ({spec}: {len(panel):,} rows; "
          f"{size:,.0f} MB of CSV in {tickers:,} files)")
    return {k: str(v) for k, v in sources.items()}


def run_cli(source: str, cache: Path, timeout: int, root: str | None = None) -> dict:
    """`stocktune prep --data SOURCE` in a fresh process with an empty cache: wall, stages, peak RSS.

    ``root``: another checkout whose code runs instead of this one (--baseline-root)."""
    shutil.rmtree(cache, ignore_errors=True)
    code = Path(root) if root else ROOT
    env = {**os.environ, "PYTHONPATH": str(code)}
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "prep", "--data", source, "--cache", str(cache), "--quiet"],
                            cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the max over all children
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stocktune prep --data {source} failed:\n{err[-3000:]}")
    from data_prep.report import read_report  # this checkout's reader: it reads any version of report.json

    report = read_report(next(cache.glob("*/report.json")).parent)
    shutil.rmtree(cache, ignore_errors=True)
    cpu = dict(report.cpu_s or {})  # absent in reports of old checkouts
    return {"wall": wall, "key": report.timings_s["key"], "load": report.timings_s["load"],
            "rest": sum(v for k, v in report.timings_s.items() if k not in ("key", "load")),
            "cpu": cpu, "cpu_total": usage.ru_utime + usage.ru_stime,  # the whole process: start and imports too
            "rss_mb": usage.ru_maxrss / 1024, "rows": report.n_rows, "load_avg": (load0, os.getloadavg()[0])}


def files_main(args: argparse.Namespace) -> None:
    if args.quick:
        args.tickers, args.days, args.runs = 300, 1500, 1
    threads = os.environ.setdefault("STOCKTUNE_PREP_THREADS", str(len(os.sched_getaffinity(0))))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, STOCKTUNE_PREP_THREADS={threads}; "
          f"load average {os.getloadavg()[0]:.2f} at start; python {platform.python_version()}")
    work = Path(tempfile.mkdtemp(prefix="bench-prep-files-"))
    root = Path(args.keep) if args.keep else work / "market"
    try:
        sources = {"generated (synthetic:)": f"synthetic:tickers={args.tickers},days={args.days},seed={args.seed}",
                   **write_files(root, args.tickers, args.days, args.seed)}
        if args.only:
            sources = {k: v for k, v in sources.items() if any(o in k for o in args.only)}
            if not sources:
                raise SystemExit(f"--only {args.only}: no source matches; the sources are: generated (synthetic:), "
                                 f"csv directory, long parquet, parquet directory")
        plan = [(name, src, None) for name, src in sources.items()]
        if args.baseline_root:  # the same files through another checkout's code (e.g. before this work)
            plan += [(f"{name} [baseline]", src, args.baseline_root) for name, src in sources.items()]
        results: dict[str, list[dict]] = {name: [] for name, _, _ in plan}
        for i in range(max(args.runs, args.baseline_runs if args.baseline_root else 0)):
            for name, src, code in plan:  # interleaved, so that drifting machine speed hits every source alike
                if i >= (args.baseline_runs if code else args.runs):
                    continue
                results[name].append(run_cli(src, work / "cache", args.timeout, code))
                r = results[name][-1]
                print(f"  run {i + 1} {name:<34} wall {r['wall']:6.2f} s  parse {r['load']:5.2f} s  "
                      f"peak RSS {r['rss_mb']:6,.0f} MB  load avg {r['load_avg'][0]:.2f} -> {r['load_avg'][1]:.2f}",
                      flush=True)
        rows = results[next(iter(results))][0]["rows"]

        def walls(rs: list[dict]) -> str:
            return ", ".join(f"{r['wall']:.2f}" for r in rs)

        print(f"\n`stocktune prep --data SOURCE`, cold cache, {rows:,} rows, medians of {args.runs} "
              f"(all runs' wall in brackets){'; [baseline]: ' + args.baseline_root if args.baseline_root else ''}")
        print(f"{'source':<36} {'wall s':>7} {'hash s':>7} {'parse s':>8} {'rest s':>7} {'peak RSS MB':>12}")
        for name, rs in results.items():
            print(f"{name:<36} {med([r['wall'] for r in rs]):7.2f} {med([r['key'] for r in rs]):7.2f} "
                  f"{med([r['load'] for r in rs]):8.2f} {med([r['rest'] for r in rs]):7.2f} "
                  f"{med([r['rss_mb'] for r in rs]):12,.0f}   [{walls(rs)}]")
        loads = [x for rs in results.values() for r in rs for x in r["load_avg"]]
        print(f"load average during the runs: {min(loads):.2f} .. {max(loads):.2f} (2 cores shared: expect drift)")
        # CPU seconds: what the code costs, much less sensitive than wall time to other jobs on the machine
        stages = list(dict.fromkeys(k for rs in results.values() for r in rs for k in r["cpu"]))
        print("\nCPU s per stage (report.json cpu_s, all threads; median): process = the whole `stocktune prep`")
        print(f"{'source':<36} " + " ".join(f"{k[:8]:>8}" for k in stages) + f" {'process':>8}")
        for name, rs in results.items():
            cells = [f"{med([r['cpu'][k] for r in rs]):8.2f}" if all(k in r["cpu"] for r in rs) else f"{'-':>8}"
                     for k in stages]
            print(f"{name:<36} " + " ".join(cells) + f" {med([r['cpu_total'] for r in rs]):8.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=2367)
    ap.add_argument("--days", type=int, default=4200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--baseline-root", help="another checkout of the repo whose prepare() runs side by side")
    ap.add_argument("--files", action="store_true", help="prep the market from files through `stocktune prep`")
    ap.add_argument("--quick", action="store_true", help="with --files: 300 tickers x 1,500 days, 1 run")
    ap.add_argument("--keep", metavar="DIR", help="with --files: write the files here once and reuse them")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="with --files: only the sources whose name contains NAME (e.g. 'parquet directory'); repeatable")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.files:
        files_main(args)
        return

    from common.env import get as get_env

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs "
          f"(feature threads: {get_env('STOCKTUNE_PREP_THREADS') or 'all'}), "
          f"load average {os.getloadavg()[0]:.1f} at start; python {platform.python_version()}, numpy {np.__version__}")
    print(f"market: synthetic:tickers={args.tickers},days={args.days},seed={args.seed}; runs={args.runs}, "
          f"baseline runs={args.baseline_runs}")
    print(f"numpy vs pandas features agree to {check_agreement():.2e} (max abs, 20 tickers x 600 days)")
    work = Path(tempfile.mkdtemp(prefix="bench-prep-"))
    try:
        # this checkout and (optionally) the baseline checkout, interleaved so drift hits both alike
        roots = [("this", None)] + ([("baseline", args.baseline_root)] if args.baseline_root else [])
        results: dict[str, list[dict]] = {name: [] for name, _ in roots}
        for i in range(args.runs):
            for name, root in roots:
                cache = work / f"{name}{i}"
                results[name].append(run_child("prep", args, root, cache=str(cache)))
                if i < args.runs - 1 or name != "this":
                    shutil.rmtree(cache)
        preps = results["this"]
        rows = preps[0]["rows"]
        for name, root in roots:
            print_prep(f"whole prepare() [{name}: {root or ROOT}]", results[name], rows)

        print("\nwhole prep, medians side by side (wall s / CPU s)")
        for name, _ in roots:
            ps = results[name]
            gen = [p["timings"]["load"] for p in ps]
            print(f"{name:<9} with generation {med([p['total_s'] for p in ps]):6.2f} / "
                  f"{med([p['total_cpu_s'] for p in ps]):5.2f}   without {med([p['total_s'] - g for p, g in zip(ps, gen)]):6.2f} / "
                  f"{med([p['total_cpu_s'] - p['cpu']['load'] for p in ps]):5.2f}   peak RSS "
                  f"{med([p['peak_rss_mb'] for p in ps]):,.0f} MB")

        print("\nfeatures alone (same panel, fresh process each)")
        print(f"{'impl':<8} {'wall s':>8} {'CPU s':>7} {'rows/s':>12} {'peak RSS MB':>12} {'+RSS MB':>9}   (wall, all runs)")
        for kind, n in (("numpy", args.runs), ("pandas", args.baseline_runs)):
            rs = [run_child(kind, args) for _ in range(n)]
            ts = [r["features_s"] for r in rs]
            print(f"{kind:<8} {med(ts):8.2f} {med([r['cpu_s'] for r in rs]):7.2f} {rows / med(ts):12,.0f} {med([r['peak_rss_mb'] for r in rs]):12,.0f} "
                  f"{med([r['peak_rss_mb'] - r['rss_before_mb'] for r in rs]):9,.0f}   {', '.join(f'{x:.2f}' for x in ts)}")

        loads = [run_child("load", args, cache=str(work / f"this{args.runs - 1}"), path=preps[-1]["path"])
                 for _ in range(args.runs)]
        print("\ncached dataset")
        print(f"PreparedDataset.load (mmap): median {med([x['load_s'] for x in loads]) * 1000:.1f} ms; "
              f"one batch {loads[0]['batch_shape']} gathered in {med([x['batch_s'] for x in loads]) * 1000:.1f} ms")
        print(f"prepare() cache hit (key from the spec; nothing generated or loaded): "
              f"median {med([x['hit_s'] * 1000 for x in loads]):.1f} ms")
        print(f"\nload average {os.getloadavg()[0]:.1f} at end (2 cores shared: expect tens of % drift)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
