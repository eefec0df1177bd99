"""Raw OHLCV -> cached, leak-free dataset: the prep steps in order, one module each.

    load_source -> validate -> adjust -> windows -> split -> features -> scaling -> target -> cache + report

Only ``prepare`` touches the disk: it looks the dataset up in the content-addressed cache and builds
it (once, under a lock) when missing. ``data_prep.inference`` re-runs the first steps for
`stocktune predict`.
"""
from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InputError

from .adjust import adjust
from .cache import PREP_VERSION, build_once, cache_key, is_complete, open_array, save_array
from .config import PrepConfig
from .dataset import SPLITS, PreparedDataset, SplitArrays
from .dataset_report import DatasetReport
from .features import FEATURE_NAMES, WARMUP, compute_features
from .panel import Panel
from .report import per_ticker_volatility, read_report, split_stats, warm_up_plots, write_report, write_report_json
from .scaling import apply as apply_scaler
from .scaling import fit_scaler
from .sources import RawInput, load_events, load_source
from .sources import source_key as source_key_of
from .split import SplitPlan, split_windows
from .target import apply_target, choose_method, fit_target
from .validate import validate
from .windows import ranges, row_starts, window_ends

__all__ = ["PrepResult", "prepare", "load_cached", "build_dataset", "min_rows", "Progress", "events_for"]


def min_rows(cfg: PrepConfig) -> int:
    """Rows a ticker needs for at least one window: feature warm-up + look_back + look_ahead."""
    return WARMUP + cfg.look_back + cfg.look_ahead


@dataclass(frozen=True)
class PrepResult:
    """Where the prepared dataset is, its report, and whether it came from the cache."""

    path: Path
    report: DatasetReport = field(repr=False)  # names this call's source, also on a cache hit
    cached: bool
    source: str = ""  # this call's source: a cache entry records the source of whoever built it first

    def __post_init__(self) -> None:
        report = self.report
        if isinstance(report, Mapping):  # report.json as read: typed here, once
            report = DatasetReport.from_json(report)
        object.__setattr__(self, "report", report.with_source(self.source))

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json of the dataset (without opening its arrays)."""
        return json.loads((self.path / "meta.json").read_text())

    def dataset(self) -> PreparedDataset:
        """The memory-mapped dataset (its meta's ``source`` is this call's)."""
        ds = PreparedDataset.load(self.path)
        if self.source and ds.meta.get("source") != self.source:
            ds = replace(ds, meta={**ds.meta, "source": self.source})
        return ds


def load_cached(cache_root: Path | str, key: str) -> PrepResult | None:
    """The dataset with cache key ``key`` when the cache holds it complete, else None (never builds)."""
    path = Path(cache_root) / key
    if not key or not is_complete(path):
        return None
    return PrepResult(path, read_report(path), True)


class Progress:
    """Step lines and per-block progress on stderr; stage timings and peak RSS for the report."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}  # CPU time: robust to other processes sharing the cores
        self.peak_rss_mb: dict[str, float] = {}
        self._cpu0 = time.process_time()
        self._last_block = 0.0

    def say(self, msg: str) -> None:
        if self.enabled:
            print(f"prep: {msg}", file=sys.stderr, flush=True)

    def stage(self, name: str, started: float) -> None:
        self.timings[name] = round(time.perf_counter() - started, 3)
        cpu = time.process_time()
        self.cpu_s[name] = round(cpu - self._cpu0, 3)
        self._cpu0 = cpu
        self.peak_rss_mb[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        self.say(f"{name} done in {self.timings[name]:.2f} s")

    def blocks(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.enabled and (done == total or now - self._last_block > 1.0):
            self._last_block = now
            print(f"prep: features {done:,}/{total:,} tickers", file=sys.stderr, flush=True)


def _daily_returns(panel: Panel) -> np.ndarray:
    r = np.full(len(panel), np.nan)
    if len(panel) > 1:
        r[1:] = np.diff(np.log(panel.close))
        first = row_starts(panel)[:-1]
        r[first[first < len(panel)]] = np.nan
    return r


def build_dataset(panel: Panel, cfg: PrepConfig, out: Path, info: dict[str, Any],
                  progress: Progress | None = None, plan: SplitPlan | None = None) -> DatasetReport:
    """Write a complete dataset for a validated, adjusted panel into directory ``out``; returns the report.

    ``info`` carries source, cache_key, repairs, skipped, adjustments, no_volume, weekend_rows and
    tickers_in_input for meta/report; tickers left without any window are added to the skipped list with the reason.
    """
    prog = progress or Progress(False)
    where = info.get("where", "[data]")

    if plan is None:
        t = time.perf_counter()
        plan = _plan(panel, cfg, where)
        prog.stage("split", t)

    t = time.perf_counter()
    # computed straight into the final file (a memory map in the temp dir that cache.build_once
    # renames into place): no separate in-memory copy, no second write
    feats = open_array(out, "features", (len(panel), len(FEATURE_NAMES)), np.float32)
    compute_features(panel, progress=prog.blocks, out=feats)
    # the scaler sees only rows of the training period (after warm-up): val/test never shape it
    starts = row_starts(panel)
    warm = ranges(starts[:-1], np.minimum(np.diff(starts), WARMUP))  # the first WARMUP rows of each ticker
    usable = np.ones(len(panel), dtype=bool)
    usable[warm] = False
    train_rows = np.flatnonzero((panel.date <= plan.last_train_day()) & usable)
    del usable
    scaler = fit_scaler(feats, train_rows)
    # sigma20 for the ecdf target, taken before scaling: computed per ticker, so values after the
    # training period cannot even perturb training rows through floating-point rounding
    all_ends = np.concatenate([plan.ends[s] for s in SPLITS])
    sig = feats[all_ends, FEATURE_NAMES.index("volatility_20")].astype(np.float64)
    apply_scaler(feats, scaler, out=feats)
    feats[warm] = 0.0  # undefined warm-up rows: finite, never inside a window
    del warm, train_rows
    prog.stage("features", t)

    t = time.perf_counter()
    method = choose_method(panel, cfg)
    # returns and sigma only at window ends (every end has its target rows in the same ticker):
    # no full-length temporaries, which keeps the peak RSS down at 10M rows
    ret = np.log(panel.close[all_ends + cfg.look_ahead]) - np.log(panel.close[all_ends])
    n_train = plan.ends["train"].size
    params = fit_target(method, ret, sig, np.arange(n_train), cfg)  # the training windows only
    prob = apply_target(params, ret, sig, panel.date[all_ends], panel.ticker[all_ends])
    splits: dict[str, SplitArrays] = {}
    k = 0
    for s in SPLITS:
        e = plan.ends[s]
        p = prob[k:k + e.size]
        r = ret[k:k + e.size]
        k += e.size
        good = np.isfinite(p)
        splits[s] = SplitArrays(e[good], p[good].astype(np.float32), r[good].astype(np.float32))
    del sig, prob, ret, all_ends
    skipped = list(info.get("skipped", [])) + _without_windows(panel, cfg, plan, splits)
    n_in = int(np.count_nonzero(np.bincount(np.concatenate([panel.ticker[splits[s].end_idx] for s in SPLITS]),
                                            minlength=len(panel.tickers))))
    prog.stage("target", t)

    t = time.perf_counter()
    daily = _daily_returns(panel)
    vols = {s: per_ticker_volatility(daily, panel.ticker, splits[s].end_idx, len(panel.tickers)) for s in SPLITS}
    split_info = {s: replace(split_stats(splits[s].target, splits[s].ret, panel.date[splits[s].end_idx],
                                         panel.ticker[splits[s].end_idx], plan.periods[s]),
                             volatility_median=float(np.median(vols[s])) if vols[s].size else float("nan"))
                  for s in SPLITS}
    report = DatasetReport(
        source=info.get("source", ""), cache_key=info.get("cache_key", ""), n_rows=len(panel),
        n_tickers=n_in, tickers_in_input=int(info.get("tickers_in_input", len(panel.tickers))),
        date_range=(str(panel.date.min()), str(panel.date.max())) if len(panel) else ("", ""),
        features=tuple(FEATURE_NAMES), look_back=cfg.look_back, look_ahead=cfg.look_ahead, target_method=method,
        purge_gap_days=plan.gap_days, splits=split_info, adjustments=info.get("adjustments", []),
        repairs=info.get("repairs", []), skipped=skipped, no_volume=info.get("no_volume", []),
        weekend_rows=info.get("weekend_rows", []), input_notes=info.get("input_notes", []), prep=cfg.to_mapping())
    # meta.json: what reading the dataset needs; the fields it shares with the report come from the report
    meta = {**report.meta_fields(), "tickers": list(panel.tickers), "warmup": WARMUP, "prep_version": PREP_VERSION,
            "scaler": scaler, "target_transform": params}
    del feats  # the memory map: its pages are already in the file
    save_array(out, "ticker", panel.ticker.astype(np.int32))
    save_array(out, "date", panel.date.astype("datetime64[D]"))
    for s, sa in splits.items():
        save_array(out, f"{s}_end", sa.end_idx.astype(np.int64))
        save_array(out, f"{s}_target", sa.target)
        save_array(out, f"{s}_ret", sa.ret)
    write_report(out, report, {s: splits[s].target for s in SPLITS}, vols)
    prog.stage("cache_write", t)
    report = replace(report, timings_s=dict(prog.timings), cpu_s=dict(prog.cpu_s), peak_rss_mb=dict(prog.peak_rss_mb))
    write_report_json(out, report)
    # meta.json last: its presence marks the directory complete
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    return report


def _without_windows(panel: Panel, cfg: PrepConfig, plan: SplitPlan, splits: dict[str, SplitArrays]) -> list[dict]:
    """Tickers that passed validation but have no window in any split, each with the reason (for 'skipped')."""
    nt = len(panel.tickers)
    final = np.bincount(np.concatenate([panel.ticker[splits[s].end_idx] for s in SPLITS]), minlength=nt)
    if final.all():
        return []
    planned = np.bincount(np.concatenate([panel.ticker[plan.ends[s]] for s in SPLITS]), minlength=nt)
    candidates = np.bincount(panel.ticker[window_ends(panel, cfg.look_back, cfg.look_ahead, WARMUP,
                                                      cfg.max_halt_days)], minlength=nt)
    starts = row_starts(panel)
    out = []
    for k in np.flatnonzero(final == 0):
        a, b = int(starts[k]), int(starts[k + 1])
        if planned[k]:
            reason = "no window has a defined target (a non-finite return or volatility at every window end)"
        elif candidates[k]:
            reason = (f"its windows all cross a split boundary or a {plan.gap_days}-day purge gap (it trades "
                      f"{panel.date[a]} .. {panel.date[b - 1]}; the splits are "
                      + ", ".join(f"{s} {plan.periods[s][0]} .. {plan.periods[s][1]}" for s in SPLITS) + ")")
        else:
            reason = (f"every window touches a halt of more than max_halt_days={cfg.max_halt_days} zero-volume "
                      f"days")
        out.append({"ticker": panel.tickers[k], "rows": b - a, "reason": reason})
    return out


def _plan(panel: Panel, cfg: PrepConfig, where: str = "[data]") -> SplitPlan:
    ends = window_ends(panel, cfg.look_back, cfg.look_ahead, WARMUP, cfg.max_halt_days)
    return split_windows(panel, ends, cfg, where)


def _file_digest(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"events must be an existing CSV file of (ticker, date, ratio), but got events={path!r}.")
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def events_for(cfg: PrepConfig, raw: RawInput) -> pd.DataFrame | None:
    """The corporate events to adjust with: the [data] events file when given, else the source's own."""
    return load_events(cfg.events) if cfg.events else raw.events


def prepare(source: str, cfg: PrepConfig, cache_root: Path | str, progress: bool = False) -> PrepResult:
    """Find the dataset for (source content, cfg) in the cache, or build it there once.

    Bad input raises InputError before anything is written (validation runs before the cache lock).
    """
    prog = Progress(progress)
    cache_root = Path(cache_root)

    # the key first (hashes of files / the synthetic spec): a cache hit parses and generates nothing
    t = time.perf_counter()
    source_key = source_key_of(source)
    content = source_key + (f"|events:{_file_digest(cfg.events)}" if cfg.events else "")
    key = cache_key(content, cfg.to_mapping())
    final = cache_root / key
    prog.stage("key", t)
    if is_complete(final):
        prog.say(f"cache hit {final}")
        return PrepResult(final, read_report(final), True, source)

    t = time.perf_counter()
    prog.say(f"loading {source}")
    raw = load_source(source, content_key=source_key, decimal=cfg.decimal, date_format=cfg.date_format)
    prog.stage("load", t)

    # the report's matplotlib import on another thread, while validation's large numpy operations
    # (which release the GIL) keep one core busy and leave the other free
    warm_up_plots()
    t = time.perf_counter()
    events = events_for(cfg, raw)
    tickers_in_input = len(raw.panel.tickers)
    input_notes = raw.notes  # day/month order decided, folder entries not read (data_prep.sources)
    checked = validate(raw, min_rows(cfg), cfg.resample)
    del raw  # each step returns a new panel: drop the old ones so only one copy stays in memory
    repairs, skipped, no_volume, weekend = checked.repairs, checked.skipped, checked.no_volume, checked.weekend_rows
    panel, adjustments = adjust(checked.panel, events, cfg.adjust)
    del checked
    prog.stage("validate", t)
    info = {"source": source, "cache_key": key, "repairs": repairs, "skipped": skipped,
            "adjustments": adjustments, "no_volume": no_volume, "weekend_rows": weekend,
            "tickers_in_input": tickers_in_input, "input_notes": input_notes}
    # the split (which checks there are enough days for every split) runs before the lock / temp dir
    t = time.perf_counter()
    plan = _plan(panel, cfg)
    prog.stage("split", t)

    built: list[DatasetReport] = []

    def build(tmp: Path) -> None:
        built.append(build_dataset(panel, cfg, tmp, info, prog, plan))

    path, cached = build_once(cache_root, key, build)
    report = read_report(path) if cached else built[0]
    prog.say(f"dataset at {path}")
    return PrepResult(path, report, cached, source)
