"""The full-size synthetic market through the real commands: what a worker costs, and whether the whole
workflow works at that size.

Part ``workers`` (issue 14, target P2: each extra worker adds <= 15% of the dataset's size in private
memory, attaching the dataset takes <= 1 s):

1. `stocktune prep` of `studies/krx_scale.toml`'s source into a fresh cache: wall time, peak RSS.
2. A bare process importing what a worker imports (its anonymous memory is the baseline), and one
   worker on a tiny market with the same settings (the fixed cost of a process that has trained).
3. `stocktune launch` with 1, 2 and 4 CPU workers (1 thread each) on a short budget: a copy of the
   study with `trials_per_worker` trials per worker, few samples, a small network and the study's own
   [validation] (3 walk-forward folds). Every worker's RSS, PSS and USS (psutil memory_full_info) and
   its /proc/PID/smaps_rollup ``Anonymous`` are sampled over its life, with the machine's load.
   While the workers run, a fresh process attaches the dataset (PreparedDataset.load, one batch of
   512 windows, then a read of every page), three times.
   Printed per worker count: dataset size on disk, each worker's private memory (Anonymous; USS only
   where every worker maps the file, since a file page mapped by one process alone counts in its USS)
   and PSS, the total PSS of all workers, attach time, first-trial latency, trials/hour, load.

Part ``tune`` (issue 14, item 3): `stocktune tune` of the same kind of copy (2 trials x 2 epochs), then
`status`, `export` and the dashboard API (`stocktune dashboard`, GET /api/studies and
/api/studies/<id>, checking the study and trial notes and the artifacts): wall time and peak RSS of
each step.

    python bench/scale.py                                   # both parts on the full-size market (~10 min, 2 cores)
    python bench/scale.py --parts workers --workers 1,2     # fewer worker counts
    python bench/scale.py --source synthetic:tickers=100,days=1500,seed=7 --out runs/bench-scale-small  # a smoke run
    python bench/scale.py --device cuda --workers-per-gpu 2 --workers 1,2,4   # on a GPU machine (never run so far)

Run it alone on the machine (the project's benchmarks share a lock: `flock /tmp/stocktune-bench.lock`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import tomli_w

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "krx_scale.toml"
CODE = ROOT  # the checkout whose `stocktune` every command runs (--code-root: an older copy, for "before")
TINY = "synthetic:tickers=20,days=4200,seed=7"  # the reference market: same calendar, 1% of the rows
TARGET_SHARE = 0.15  # P2: private memory an extra worker may add, as a share of the dataset's size
TARGET_ATTACH_S = 1.0
MB = 2**20


# ------------------------------------------------------------------------------------------ helpers

def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def anonymous_mb(pid: int) -> float | None:
    """Private memory of a process: smaps_rollup Anonymous (anonymous pages, whatever files it maps)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def maps_file(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return any(line.rstrip().endswith(name) for line in fh)
    except OSError:
        return False


def child_env(cache: Path) -> dict[str, str]:
    env = {**os.environ, "STOCKTUNE_CACHE": str(cache), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(CODE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("STOCKTUNE_STORAGE", None)
    env.pop("STOCKTUNE_ARTIFACTS", None)
    return env


def stocktune(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run to the end: wall time, exit code and peak RSS (ru_maxrss of the process and its reaped children)."""
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        p = subprocess.Popen(cmd, cwd=CODE, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": time.perf_counter() - t0, "rc": p.returncode, "peak_rss_mb": usage.ru_maxrss / 1024,
            "load": load(), "log": str(log)}


class Sampler:
    """Samples the memory of every descendant of ``root`` whose command line has ``marker`` (the workers)."""

    def __init__(self, root: int, marker: str, mapped: str, every: float = 0.25) -> None:
        self.root, self.marker, self.mapped, self.every = root, marker, mapped, every
        self.procs: dict[int, dict[str, Any]] = {}  # pid -> {"created": t, "samples": [...]}
        self.ticks: list[dict[str, Any]] = []
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def _workers(self) -> list[psutil.Process]:
        try:
            kids = psutil.Process(self.root).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for k in kids:
            try:
                if self.marker in k.cmdline():
                    out.append(k)
            except psutil.Error:
                pass
        return out

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            tick: dict[str, Any] = {"t": time.time(), "workers": {}}
            for p in self._workers():
                try:
                    info = p.memory_full_info()
                    anon = anonymous_mb(p.pid)
                    rec = self.procs.setdefault(p.pid, {"created": p.create_time(), "samples": []})
                except psutil.Error:
                    continue
                if anon is None:
                    continue
                s = {"rss": info.rss / MB, "pss": info.pss / MB, "uss": info.uss / MB, "anon": anon,
                     # whether it maps features.npy (checked every 8th tick: reading maps costs a little)
                     "maps": maps_file(p.pid, self.mapped) if n % 8 == 0 or not rec["samples"]
                     else rec["samples"][-1]["maps"]}
                rec["samples"].append(s)
                tick["workers"][p.pid] = s
            if tick["workers"]:
                self.ticks.append(tick)
            self.loads.append(os.getloadavg()[0])
            n += 1
            self._stop.wait(self.every)

    def summary(self) -> dict[str, Any]:
        per = {}
        for pid, rec in self.procs.items():
            ss = rec["samples"]
            if not ss:
                continue
            per[pid] = {"created": rec["created"], "peak_anon_mb": max(s["anon"] for s in ss),
                        "last_anon_mb": ss[-1]["anon"], "median_anon_mb": statistics.median(s["anon"] for s in ss),
                        "peak_pss_mb": max(s["pss"] for s in ss), "peak_rss_mb": max(s["rss"] for s in ss),
                        "peak_uss_mb": max(s["uss"] for s in ss), "samples": len(ss)}
        # USS is private memory only where every page of the dataset one worker maps is mapped by another
        # too (a file page mapped by one process alone counts in its USS): never with one worker, and not
        # early on (random windows reach every page only after a while). So: the USS of the last tick at
        # which all workers were alive and mapping the file, next to the Anonymous of that tick.
        n = len(per)
        shared = [t for t in self.ticks if n >= 2 and len(t["workers"]) == n
                  and all(s["maps"] for s in t["workers"].values())]
        for pid in per:
            last = shared[-1]["workers"][pid] if shared else None
            per[pid]["uss_all_mapping_mb"] = last["uss"] if last else None
            per[pid]["anon_all_mapping_mb"] = last["anon"] if last else None
        totals = [sum(s["pss"] for s in t["workers"].values()) for t in self.ticks]
        anon_totals = [sum(s["anon"] for s in t["workers"].values()) for t in self.ticks]
        return {"per_worker": per, "peak_total_pss_mb": max(totals, default=0.0),
                "peak_total_anon_mb": max(anon_totals, default=0.0),
                "load_min": min(self.loads, default=0.0), "load_max": max(self.loads, default=0.0)}


# --------------------------------------------------------------------------------------- the study copy

def study_copy(path: Path, out: Path, source: str, n_trials: int, args: argparse.Namespace,
               name: str = "krx-scale-bench") -> Path:
    """studies/krx_scale.toml on a short budget: same data prep, [validation], sampler, pruner, heartbeat."""
    doc = tomllib.loads(STUDY.read_text())
    doc.update(name=name, storage=f"sqlite:///{out}/study.db", artifacts=str(out / "artifacts"), n_trials=n_trials)
    doc["data"]["source"] = source
    doc["train"].update(epochs=args.epochs, samples_per_epoch=args.samples, val_samples=args.val_samples,
                        device=args.device)
    doc["search"].update(hidden_dim={"choices": [16, 32], "default": 32}, num_layers={"low": 1, "high": 2},
                         batch_size={"choices": [256, 512]}, conv_channels={"choices": [0, 16]})
    doc.setdefault("worker", {})["stagger_seconds"] = 2
    doc["description"] = "bench/scale.py: studies/krx_scale.toml on a short CPU budget"
    path.write_text(tomli_w.dumps(doc))
    return path


def dataset_dir(cache: Path) -> Path:
    dirs = [d for d in cache.iterdir() if d.is_dir() and (d / "meta.json").is_file() and (d / "features.npy").is_file()]
    return max(dirs, key=lambda d: (d / "features.npy").stat().st_size)


def dir_size(d: Path, pattern: str = "*") -> int:
    return sum(f.stat().st_size for f in d.glob(pattern) if f.is_file())


# ------------------------------------------------------------------------------------------- probes

ATTACH_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from data_prep.dataset import PreparedDataset
t_import = time.perf_counter()
ds = PreparedDataset.load(sys.argv[1])
t_load = time.perf_counter()
end = np.sort(np.random.default_rng(0).choice(len(ds.split("train")), 512, replace=False))
end = np.asarray(ds.split("train").end_idx[end])
x = ds.features[end[:, None] + np.arange(-ds.look_back + 1, 1)]  # one batch [512, L, F]
t_batch = time.perf_counter()
total = 0.0
for a in (ds.features, ds.ticker, ds.date, *[getattr(s, k) for s in ds.splits.values() for k in ("end_idx", "target", "ret")]):
    flat = a.reshape(-1).view(np.uint8) if a.dtype.kind != "M" else a.view(np.int64).reshape(-1).view(np.uint8)
    total += float(flat[::4096].sum())  # one byte of every page
t_touch = time.perf_counter()
print(json.dumps({"import_s": t_import - t0, "load_s": t_load - t_import, "first_batch_s": t_batch - t_load,
                  "touch_all_s": t_touch - t_batch, "attach_s": t_batch - t_import, "attach_touch_all_s": t_touch - t_import}))
"""

BARE_IMPORT = r"""
import torch
torch.set_num_threads(1)
import optuna, numpy, pandas
import cli.main, data_prep, model, tuner.worker, tuner.objective, tuner.story
for line in open("/proc/self/smaps_rollup"):
    if line.startswith(("Anonymous:", "Rss:")):
        print(line.strip())
"""


def attach_probe(ds: Path, env: dict[str, str]) -> dict[str, float]:
    r = subprocess.run([sys.executable, "-c", ATTACH_PROBE, str(ds)], cwd=CODE, env=env, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {**json.loads(r.stdout), "load": os.getloadavg()[0]}


def bare_import(env: dict[str, str]) -> float:
    r = subprocess.run([sys.executable, "-c", BARE_IMPORT], cwd=CODE, env=env, capture_output=True, text=True,
                       timeout=300, check=True)
    return float(re.search(r"Anonymous:\s+(\d+)", r.stdout).group(1)) / 1024


def running_trials(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute("select count(*) from trials where state = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:
        return 0


def trials_of(study: Path, name: str) -> list[Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{study.parent}/study.db"
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


# --------------------------------------------------------------------------------------------- parts

def launch_run(n: int, args: argparse.Namespace, cache: Path, ds: Path, out: Path, source: str,
               attach: bool = True, name: str = "krx-scale-bench") -> dict[str, Any]:
    """`stocktune launch` with ``n`` CPU workers, sampled over their lives; attach probes while they train."""
    out.mkdir(parents=True)
    study = study_copy(out / "study.toml", out, source, n * args.trials_per_worker, args, name=name)
    env = child_env(cache)
    probes: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with open(out / "launch.log", "wb") as fh:
        gpu = ["--workers-per-gpu", str(args.workers_per_gpu)] if args.device != "cpu" else []
        p = subprocess.Popen(stocktune("launch", str(study), "--workers", str(n), "--threads", str(args.threads), *gpu), cwd=CODE,
                             env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with Sampler(p.pid, "worker", "features.npy") as sampler:
            probed = not attach
            while p.poll() is None:
                if not probed and running_trials(out / "study.db") >= n:
                    time.sleep(3)  # into the trials' training
                    probes = [attach_probe(ds, env) for _ in range(3)]
                    probed = True
                time.sleep(0.5)
        wall = time.perf_counter() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(120)
    if p.returncode != 0:
        raise RuntimeError(f"launch with {n} workers exited {p.returncode}; see {out / 'launch.log'}")
    mem = sampler.summary()
    trials = trials_of(study, name)
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    for pid, w in mem["per_worker"].items():
        mine = [t.datetime_start for t in trials if t.user_attrs.get("worker_pid") == pid and t.datetime_start]
        w["first_trial_latency_s"] = ((min(mine) - dt.datetime.fromtimestamp(w["created"])).total_seconds()
                                      if mine else None)
        w["trials"] = sum(t.user_attrs.get("worker_pid") == pid for t in done)
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    return {"workers": n, "wall_s": wall, "finished": len(done), "states": sorted(t.state.name for t in trials),
            "trials_per_hour": 3600 * len(done) / wall, "median_trial_s": statistics.median(durations) if durations else None,
            "attach": probes, **mem}


def part_workers(args: argparse.Namespace, out: Path, cache: Path) -> dict[str, Any]:
    res: dict[str, Any] = {}
    (out / "prep").mkdir(parents=True)
    prep_study = study_copy(out / "prep" / "study.toml", out / "prep", args.source, 1, args)
    print(f"prep: {args.source} into {cache} (load {load()})", flush=True)
    res["prep"] = run_measured(stocktune("prep", "--config", str(prep_study), "--cache", str(cache), "--quiet"),
                               child_env(cache), out / "prep" / "prep.log")
    if res["prep"]["rc"] != 0:
        raise RuntimeError(f"prep failed; see {res['prep']['log']}")
    ds = dataset_dir(cache)
    res["dataset"] = {"path": str(ds), "bytes_all": dir_size(ds), "bytes_npy": dir_size(ds, "*.npy"),
                      "bytes_features": (ds / "features.npy").stat().st_size,
                      "rows": json.loads((ds / "meta.json").read_text()).get("n_rows")}
    print(f"  {res['prep']['wall_s']:.1f} s, peak RSS {res['prep']['peak_rss_mb']:,.0f} MB, dataset "
          f"{res['dataset']['bytes_all'] / MB:,.0f} MB on disk (load {res['prep']['load']})", flush=True)
    res["bare_import_anon_mb"] = statistics.median(bare_import(child_env(cache)) for _ in range(3))
    print(f"bare import (torch, optuna, cli, model, tuner): {res['bare_import_anon_mb']:.0f} MB anonymous", flush=True)
    if args.reference:
        print(f"reference: 1 worker on {TINY} (load {load()})", flush=True)
        tiny_cache = out / "cache-tiny"  # prepared first, so that the worker only opens it, as on the big one
        r = run_measured(stocktune("prep", "--config", str(prep_study), "--data", TINY, "--cache", str(tiny_cache),
                                   "--quiet"), child_env(tiny_cache), out / "prep" / "prep-tiny.log")
        if r["rc"] != 0:
            raise RuntimeError(f"prep of {TINY} failed; see {r['log']}")
        res["reference"] = launch_run(1, args, tiny_cache, ds, out / "tiny", TINY, attach=False)
        w = next(iter(res["reference"]["per_worker"].values()))
        print(f"  peak anonymous {w['peak_anon_mb']:.0f} MB", flush=True)
    res["runs"] = []
    for n in args.workers:
        print(f"launch --workers {n} (load {load()})", flush=True)
        r = launch_run(n, args, cache, ds, out / f"w{n}", args.source)
        res["runs"].append(r)
        print(f"  {r['finished']} trials in {r['wall_s']:.0f} s, peak anonymous per worker "
              f"{[round(w['peak_anon_mb']) for w in r['per_worker'].values()]} MB (load {r['load_min']:.1f}-"
              f"{r['load_max']:.1f})", flush=True)
    return res


def _get(url: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    return time.perf_counter() - t0, json.loads(body)


def part_tune(args: argparse.Namespace, out: Path, cache: Path) -> dict[str, Any]:
    """stocktune tune -> status -> export -> dashboard API, each timed, on a 2-trial copy of the study."""
    out.mkdir(parents=True)
    targs = argparse.Namespace(**{**vars(args), "epochs": 2})
    study = study_copy(out / "study.toml", out, args.source, 2, targs, name="krx-scale-tune")
    env = child_env(cache)
    res: dict[str, Any] = {}
    steps = [("prep", ["prep", "--config", str(study), "--quiet"]), ("tune", ["tune", str(study), "--workers", "2"]),
             ("status", ["status", str(study)]), ("export", ["export", str(study), "--out", str(out / "best.toml")])]
    for step, cmd in steps:
        print(f"{step} (load {load()})", flush=True)
        if step == "tune":
            t0 = time.perf_counter()
            with open(out / "tune.log", "wb") as fh:
                p = subprocess.Popen(stocktune(*cmd), cwd=CODE, env=env, stdout=fh, stderr=subprocess.STDOUT)
                with Sampler(p.pid, "worker", "features.npy") as sampler:
                    _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            mem = sampler.summary()
            res[step] = {"wall_s": time.perf_counter() - t0, "rc": p.returncode, "peak_rss_mb": usage.ru_maxrss / 1024,
                         "load": load(), "log": str(out / "tune.log"),
                         "worker_peak_anon_mb": [w["peak_anon_mb"] for w in mem["per_worker"].values()],
                         "worker_peak_pss_mb": [w["peak_pss_mb"] for w in mem["per_worker"].values()]}
        else:
            res[step] = run_measured(stocktune(*cmd), env, out / f"{step}.log")
        if res[step]["rc"] != 0:
            raise RuntimeError(f"{step} exited {res[step]['rc']}; see {res[step]['log']}")
        print(f"  {res[step]['wall_s']:.1f} s, peak RSS {res[step]['peak_rss_mb']:,.0f} MB", flush=True)
    status_text = (out / "status.log").read_text()
    res["status"]["shows_best"] = "best" in status_text.lower()
    res["export"]["file"] = (out / "best.toml").is_file()

    print(f"dashboard API (load {load()})", flush=True)
    t0 = time.perf_counter()
    log = out / "dashboard.log"
    with open(log, "wb") as fh:
        d = subprocess.Popen(stocktune("dashboard", str(study), "--port", "0"), cwd=CODE, env=env, stdout=fh,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = None
        while port is None and time.perf_counter() - t0 < 120 and d.poll() is None:
            m = re.search(r"Listening on http://127\.0\.0\.1:(\d+)/", log.read_text())
            port = int(m.group(1)) if m else None
            time.sleep(0.1)
        if port is None:
            raise RuntimeError(f"the dashboard did not listen; see {log}")
        listening = time.perf_counter() - t0
        base = f"http://127.0.0.1:{port}"
        t_list, studies = _get(f"{base}/api/studies")
        sid = next(s["study_id"] for s in studies["study_summaries"] if s["study_name"] == "krx-scale-tune")
        t_detail, detail = _get(f"{base}/api/studies/{sid}?after=0")
        info = psutil.Process(d.pid).memory_full_info()
        complete = [t for t in detail["trials"] if str(t["state"]).lower() == "complete"]
        res["dashboard"] = {
            "listening_s": listening, "api_studies_s": t_list, "api_study_s": t_detail,
            "rss_mb": info.rss / MB, "pss_mb": info.pss / MB, "anon_mb": anonymous_mb(d.pid), "load": load(),
            "study_note": len(detail["note"]["body"]), "study_note_has_folds": "walk-forward fold" in detail["note"]["body"],
            "trials": len(detail["trials"]), "complete": len(complete),
            "trial_notes": sum(bool(t["note"]["body"]) for t in complete),
            "artifacts": sorted(a["filename"] for a in detail["artifacts"])}
    finally:
        if d.poll() is None:
            d.terminate()
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
    r = res["dashboard"]
    print(f"  listening after {r['listening_s']:.1f} s; /api/studies {r['api_studies_s'] * 1000:.0f} ms, "
          f"/api/studies/{sid} {r['api_study_s'] * 1000:.0f} ms; notes: study {r['study_note']} chars, "
          f"{r['trial_notes']}/{r['complete']} trials; artifacts {r['artifacts']}", flush=True)
    return res


# ------------------------------------------------------------------------------------------- report

def report(res: dict[str, Any]) -> None:
    w = res.get("workers")
    if w:
        size = w["dataset"]["bytes_all"] / MB
        budget = TARGET_SHARE * size
        base = w["bare_import_anon_mb"]
        ref = None
        if "reference" in w:
            ref = next(iter(w["reference"]["per_worker"].values()))["peak_anon_mb"]
        print(f"\n== workers: {res['source']} ({w['dataset']['bytes_all'] / MB:,.0f} MB on disk, features.npy "
              f"{w['dataset']['bytes_features'] / MB:,.0f} MB); P2 budget {TARGET_SHARE:.0%} = {budget:.0f} MB per extra worker")
        print(f"prep: {w['prep']['wall_s']:.1f} s wall, peak RSS {w['prep']['peak_rss_mb']:,.0f} MB (load {w['prep']['load']})")
        print(f"bare import: {base:.0f} MB anonymous" + (f"; 1 worker on the tiny market peaks at {ref:.0f} MB" if ref else ""))
        print("workers | private (Anonymous) peak per worker, MB | - bare import | - tiny-market worker | USS (Anonymous) "
              "last all mapping | PSS peak | total PSS | attach (load+batch / +all pages) | first trial | trials/h | load")
        for r in w["runs"]:
            ws = list(r["per_worker"].values())
            anon = [x["peak_anon_mb"] for x in ws]
            uss = [f"{x['uss_all_mapping_mb']:.0f} ({x['anon_all_mapping_mb']:.0f})" for x in ws
                   if x["uss_all_mapping_mb"] is not None]
            att = r["attach"]
            a1 = statistics.median(a["attach_s"] for a in att) if att else float("nan")
            a2 = statistics.median(a["attach_touch_all_s"] for a in att) if att else float("nan")
            lat = [x["first_trial_latency_s"] for x in ws if x["first_trial_latency_s"] is not None]
            pss = [x["peak_pss_mb"] for x in ws]
            print(f"{r['workers']} | {'/'.join(f'{a:.0f}' for a in anon)} | "
                  f"{'/'.join(f'{a - base:.0f}' for a in anon)} | "
                  f"{'/'.join(f'{a - ref:.0f}' for a in anon) if ref else '-'} | "
                  f"{'/'.join(uss) if uss else '- (one mapper)'} | "
                  f"{'/'.join(f'{p:.0f}' for p in pss)} | {r['peak_total_pss_mb']:.0f} | "
                  f"{a1:.3f} / {a2:.3f} s | {statistics.median(lat) if lat else float('nan'):.1f} s | "
                  f"{r['trials_per_hour']:.0f} ({r['finished']} in {r['wall_s']:.0f} s) | "
                  f"{r['load_min']:.1f}-{r['load_max']:.1f}")
        worst = max(x["peak_anon_mb"] for r in w["runs"] for x in r["per_worker"].values())
        print(f"P2 private memory: worst worker {worst - base:.0f} MB beyond a bare import "
              f"({(worst - base) / size:.0%} of the dataset)" + (f", {worst - ref:.0f} MB beyond a tiny-market worker "
                                                                 f"({(worst - ref) / size:.1%})" if ref else "")
              + f"; budget {budget:.0f} MB")
        att = [a for r in w["runs"] for a in r["attach"]]
        if att:
            print(f"P2 attach: median {statistics.median(a['attach_s'] for a in att):.3f} s (load + first batch), "
                  f"{statistics.median(a['attach_touch_all_s'] for a in att):.3f} s reading every page; target "
                  f"{TARGET_ATTACH_S:.0f} s")
    t = res.get("tune")
    if t:
        print(f"\n== tune -> status -> export -> dashboard ({res['source']}, 2 trials x 2 epochs)")
        for step in ("prep", "tune", "status", "export"):
            print(f"{step}: {t[step]['wall_s']:.1f} s, peak RSS {t[step]['peak_rss_mb']:,.0f} MB (load {t[step]['load']})")
        print(f"tune workers: peak anonymous {[round(x) for x in t['tune']['worker_peak_anon_mb']]} MB, "
              f"PSS {[round(x) for x in t['tune']['worker_peak_pss_mb']]} MB")
        d = t["dashboard"]
        print(f"dashboard: listening {d['listening_s']:.1f} s, GET /api/studies {d['api_studies_s'] * 1000:.0f} ms, "
              f"GET /api/studies/<id> {d['api_study_s'] * 1000:.0f} ms, RSS {d['rss_mb']:.0f} MB / PSS "
              f"{d['pss_mb']:.0f} MB; study note {d['study_note']} chars, trial notes {d['trial_notes']}/"
              f"{d['complete']}, artifacts {len(d['artifacts'])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=tomllib.loads(STUDY.read_text())["data"]["source"])
    ap.add_argument("--parts", default="workers,tune", help="workers, tune or both (default)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts for `launch` (default 1,2,4)")
    ap.add_argument("--trials-per-worker", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=2048, help="samples_per_epoch")
    ap.add_argument("--val-samples", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per worker (default 1)")
    ap.add_argument("--device", default="cpu", help="[train] device of the study copies (default cpu; the figures "
                    "in bench/README.md are CPU only)")
    ap.add_argument("--workers-per-gpu", type=int, default=1, help="with --device cuda: launch --workers-per-gpu")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the tiny-market worker")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-scale"), help="work directory (emptied first)")
    ap.add_argument("--code-root", default=None, help="run the `stocktune` of another checkout (e.g. an older "
                    "copy from `git archive`, for a before/after); the study file and this script stay these")
    args = ap.parse_args()
    global CODE
    CODE = Path(args.code_root).resolve() if args.code_root else ROOT
    args.workers = [int(x) for x in args.workers.split(",")]
    parts = set(args.parts.split(","))
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cache = out / "cache"
    res: dict[str, Any] = {"source": args.source, "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
                           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                                      f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}",
                           "code": str(CODE), "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    print(f"bench/scale.py {res['date']} on {res['machine']}; load {load()}", flush=True)
    if "workers" in parts:
        res["workers"] = part_workers(args, out, cache)
    if "tune" in parts:
        res["tune"] = part_tune(args, out / "tune", cache)
    (out / "scale.json").write_text(json.dumps(res, indent=2, default=str))
    report(res)
    print(f"\nfigures: {out / 'scale.json'}; load at the end {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
