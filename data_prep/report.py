"""The prep report: what went in, what came out, and whether the target is as uniform as intended.

Written next to the dataset as report.json (machine-readable; the tuner attaches it to studies),
report.md (for people) and three PNGs with one panel per split: target_hist.png, target_qq.png
(against Uniform(0, 1)) and volatility_hist.png (per-ticker volatility, because the original
problem was volatile tickers piling up in the validation period). Matplotlib is imported lazily,
and only its object-oriented ``Figure`` (no pyplot, no GUI backend, fixed margins instead of
``tight_layout``): importing data_prep stays cheap and works headless, and the plots take a third of
the time they took through pyplot.
"""
from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import InputError

from .dataset import SPLITS
from .dataset_report import DatasetReport, SplitReport
from .input_notes import notes_lines
from .stats import ks_uniform, subsample

__all__ = ["PLOTS", "REPORT_FILES", "split_stats", "per_ticker_volatility", "write_report", "write_report_json",
           "read_report", "render_markdown", "summary_text", "copy_report", "warm_up_plots"]

PLOTS = ("target_hist.png", "target_qq.png", "volatility_hist.png")
REPORT_FILES = ("report.md", "report.json", *PLOTS)
_KS_SAMPLE = 1_000_000  # the KS statistic of an evenly strided sample of this size is exact to ~1e-3
_PLOT_SAMPLE = 200_000  # plenty for a 50-bin histogram and 200 QQ points, and 5x cheaper to sort


def per_ticker_volatility(daily_ret: np.ndarray, ticker: np.ndarray, ends: np.ndarray, n_tickers: int) -> np.ndarray:
    """Annualized std of daily log returns per ticker over the rows ending the split's windows."""
    r = daily_ret[ends]
    t = ticker[ends]
    ok = np.isfinite(r)
    r, t = r[ok], t[ok]
    cnt = np.bincount(t, minlength=n_tickers).astype(np.float64)
    s1 = np.bincount(t, weights=r, minlength=n_tickers)
    s2 = np.bincount(t, weights=r * r, minlength=n_tickers)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = s2 / cnt - (s1 / cnt) ** 2
    vol = np.sqrt(np.maximum(var, 0.0)) * np.sqrt(252.0)
    return vol[cnt >= 2]


def _n_distinct_days(dates: np.ndarray) -> int:
    if dates.size == 0:
        return 0
    d = dates.astype("datetime64[D]", copy=False).view(np.int64)
    return int(np.count_nonzero(np.bincount(d - d.min())))


def split_stats(target: np.ndarray, ret: np.ndarray, dates: np.ndarray, ticker: np.ndarray,
                period: tuple[str, str]) -> SplitReport:
    """Counts, date ranges and target uniformity of one split (its volatility_median is the caller's)."""
    ks, p = ks_uniform(subsample(target, _KS_SAMPLE))
    n = int(target.shape[0])
    nan = float("nan")
    return SplitReport(
        start=period[0], end=period[1],
        first_window_end=str(dates.min()) if n else "", last_window_end=str(dates.max()) if n else "",
        n_windows=n, n_tickers=int(np.count_nonzero(np.bincount(ticker))) if n else 0,
        n_dates=_n_distinct_days(dates),
        target_mean=float(np.mean(target)) if n else nan,
        target_ks_stat=ks, target_ks_p=p, target_ks_n=int(min(n, _KS_SAMPLE)),
        rise_rate=float(np.mean(ret > 0)) if n else nan,
        ret_mean=float(np.mean(ret)) if n else nan,
        ret_std=float(np.std(ret)) if n else nan,
    )


def warm_up_plots() -> threading.Thread:
    """Import matplotlib and draw a tiny PNG on a background thread (``prepare`` starts it before validation).

    The import and the first figure (backend, fonts) cost ~0.5 s of pure Python that ``_plots``
    would otherwise pay at the end; validation leaves a core free for it.
    """
    def warm() -> None:
        from matplotlib.figure import Figure

        Figure(figsize=(1, 1)).savefig(io.BytesIO(), format="png", dpi=10)

    t = threading.Thread(target=warm, name="warm-plots", daemon=True)
    t.start()
    return t


def _figure(n: int, height: float, **kw: Any):
    """A Figure with one panel per split and fixed margins (tight_layout measured every label: ~0.2 s a figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * n, height))
    axes = fig.subplots(1, n, squeeze=False, **kw)[0]
    fig.subplots_adjust(left=0.06 if n > 1 else 0.15, right=0.98, bottom=0.5 / height, top=1 - 0.35 / height,
                        wspace=0.3)
    return fig, axes


def _plots(path: Path, targets: dict[str, np.ndarray], vols: dict[str, np.ndarray]) -> None:
    names = [s for s in SPLITS if s in targets]
    fig, axes = _figure(len(names), 3)
    for ax, s in zip(axes, names):
        counts, edges = np.histogram(subsample(targets[s], _PLOT_SAMPLE), bins=50, range=(0, 1), density=True)
        ax.stairs(counts, edges, fill=True, alpha=0.7)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{s}: target (n={len(targets[s]):,})")
        ax.set_xlabel("rise probability")
    fig.savefig(path / "target_hist.png", dpi=80)

    fig, axes = _figure(len(names), 3.6)
    q = (np.arange(200) + 0.5) / 200
    for ax, s in zip(axes, names):
        t = targets[s]
        emp = np.quantile(subsample(t, _PLOT_SAMPLE), q) if len(t) else np.full_like(q, np.nan)
        ax.plot(q, emp, ".", ms=3)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_title(f"{s}: QQ vs Uniform(0,1)")
        ax.set_xlabel("uniform quantile")
        ax.set_ylabel("target quantile")
    fig.savefig(path / "target_qq.png", dpi=80)

    fig, axes = _figure(len(names), 3, sharex=True)
    allv = np.concatenate([vols[s] for s in names if vols.get(s) is not None and len(vols[s])] or [np.zeros(1)])
    hi = float(np.quantile(allv, 0.99)) if allv.size else 1.0
    for ax, s in zip(axes, names):
        ax.hist(np.clip(vols.get(s, np.zeros(0)), 0, hi), bins=40, range=(0, max(hi, 1e-6)))
        ax.set_title(f"{s}: per-ticker volatility")
        ax.set_xlabel("annualized volatility")
    fig.savefig(path / "volatility_hist.png", dpi=80)


def render_markdown(report: DatasetReport) -> str:
    """A readable summary of report.json."""
    lines = [
        "# Prep report", "",
        f"- source: `{report.source}`",
        f"- rows: {report.n_rows:,}, features: {len(report.features)}",
        f"- {_tickers_line(report)}",
        f"- look_back: {report.look_back}, look_ahead: {report.look_ahead}, target: {report.target_method}",
        f"- purge gap between splits: {report.purge_gap_days} trading days (no day is shared by two splits)",
        f"- cache key: `{report.cache_key}`", "",
        "| split | period | windows | tickers | target KS | KS p | rise rate | volatility median |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in SPLITS:
        sp = report.splits.get(s)
        if sp is None:
            continue
        lines.append(
            f"| {s} | {sp.start} .. {sp.end} | {sp.n_windows:,} | {sp.n_tickers:,} | "
            f"{sp.target_ks_stat:.4f} | {sp.target_ks_p:.3g} | {sp.rise_rate:.3f} | {sp.volatility_median:.3f} |"
        )
    lines += ["", "The test period is reserved for the final evaluation; tuning optimizes on val.", ""]
    sections: tuple[tuple[str, list[Any]], ...] = (
        ("Repairs", report.repairs), ("Skipped tickers", report.skipped),
        ("No volume information (volume features neutral, no halts inferred)", report.no_volume),
        ("Weekend rows (stale ones dropped: volume 0, the previous close repeated; ones with trading kept)",
         report.weekend_rows),
        ("Adjustments (splits and merges; unit changes: prices before the date multiplied by the factor, "
         "volume unchanged)", report.adjustments),
        ("Input notes (date order, entries not read)", report.input_notes))
    for title, items in sections:
        lines.append(f"## {title} ({len(items)})")
        lines += [f"- {json.dumps(it, default=str)}" for it in items[:50]]
        if len(items) > 50:
            lines.append(f"- ... {len(items) - 50} more in report.json")
        lines.append("")
    lines += ["![target histogram](target_hist.png)", "![target QQ](target_qq.png)",
              "![volatility](volatility_hist.png)", ""]
    return "\n".join(lines)


def write_report_json(path: Path, report: DatasetReport) -> None:
    """report.json in ``path``: the one place the report is serialized."""
    (Path(path) / "report.json").write_text(json.dumps(report.to_json(), indent=1, default=str))


def read_report(path: Path) -> DatasetReport:
    """The report of the dataset (or report copy) in directory ``path``."""
    return DatasetReport.from_json(json.loads((Path(path) / "report.json").read_text()))


def write_report(path: Path, report: DatasetReport, targets: dict[str, np.ndarray],
                 vols: dict[str, np.ndarray]) -> None:
    """Write report.json, report.md and the PNGs into dataset directory ``path``."""
    path = Path(path)
    write_report_json(path, report)
    (path / "report.md").write_text(render_markdown(report))
    _plots(path, targets, vols)


def _plural(k: int, word: str = "ticker") -> str:
    return f"{k:,} {word}{'s' if k != 1 else ''}"


def _tickers_line(report: DatasetReport) -> str:
    skipped = len(report.skipped)
    line = f"tickers: {report.n_tickers:,} in the dataset, {skipped:,} skipped"
    constant = sum(1 for s in report.skipped if "constant_price" in s)
    if constant:
        line += f" ({constant:,} with a constant price)"
    return line + (" (see report.md)" if skipped else "")


def _repairs_line(repairs: list[dict]) -> str:
    """'repairs: 12 rows sorted into date order (2 tickers), 3 exact duplicate rows dropped (1 ticker)'."""
    def n(items: list[dict], key: str) -> tuple[int, str]:
        return sum(int(it[key]) for it in items), _plural(len(items))

    parts = []
    by = {a: [r for r in repairs if r.get("action") == a] for a in
          ("sorted", "dropped_exact_duplicates", "resampled_daily")}
    if by["sorted"]:
        rows, who = n(by["sorted"], "rows_out_of_order")
        parts.append(f"{rows:,} rows out of date order sorted ({who})")
    if by["dropped_exact_duplicates"]:
        rows, who = n(by["dropped_exact_duplicates"], "rows")
        parts.append(f"{rows:,} exact duplicate rows dropped ({who})")
    if by["resampled_daily"]:
        bars, who = n(by["resampled_daily"], "bars")
        days = sum(int(r["days"]) for r in by["resampled_daily"])
        parts.append(f"{bars:,} intraday bars resampled to {days:,} daily bars ({who})")
    return "repairs: " + "; ".join(parts) + " (see report.md)"


def _weekend_line(rows: list[dict]) -> str:
    """'weekend rows: 120 stale ones dropped (1 ticker), 0 with trading kept (see report.md)'."""
    dropped = [r for r in rows if r["dropped_stale"]]
    kept = [r for r in rows if r["kept_trading"]]
    return (f"weekend rows: {sum(r['dropped_stale'] for r in dropped):,} stale ones dropped ({_plural(len(dropped))}: "
            f"volume 0, the previous close repeated), {sum(r['kept_trading'] for r in kept):,} with trading kept "
            f"({_plural(len(kept))}) (see report.md)")


def _units_line(changes: list[dict]) -> str:
    """'unit changes: 005930 x100 from 2011-02-28 (earlier prices multiplied by the factor; ...)'."""
    shown = ", ".join(f"{c['ticker']} x{c['factor']:g} from {c['date']}" for c in changes[:5])
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return (f"unit changes: {shown}{more} (prices before each multiplied by its factor, volume unchanged; "
            f"see report.md)")


def summary_text(report: DatasetReport, path: Path, cached: bool) -> str:
    """The lines `stocktune prep` prints: where the dataset is, its size, each split, what was repaired or left out."""
    lines = [
        f"dataset: {path} ({'cache hit' if cached else 'built'})",
        f"source: {report.source}  rows: {report.n_rows:,}  features: {len(report.features)}  "
        f"target: {report.target_method}  purge gap: {report.purge_gap_days} days",
        _tickers_line(report),
    ]
    for s in SPLITS:
        sp = report.splits[s]
        lines.append(f"  {s:5s} {sp.start} .. {sp.end}  windows {sp.n_windows:>10,}  "
                     f"target KS {sp.target_ks_stat:.4f} (p={sp.target_ks_p:.3g})")
    if report.repairs:
        lines.append(_repairs_line(report.repairs))
    if report.weekend_rows:
        lines.append(_weekend_line(report.weekend_rows))
    if report.no_volume:
        lines.append(f"no volume information: {_plural(len(report.no_volume))} (volume features neutral, "
                     f"no halts inferred; see report.md)")
    units = report.unit_changes
    if units:
        lines.append(_units_line(units))
    if len(report.adjustments) > len(units):
        lines.append(f"adjustments: {len(report.adjustments) - len(units)} (see report.md)")
    lines += notes_lines(report.input_notes)  # day/month order decided, folder entries not read
    return "\n".join(lines)


def copy_report(dataset_dir: Path, out: Path, report: DatasetReport | None = None) -> Path:
    """Copy the report files of a prepared dataset into ``out``; returns out/report.md.

    With ``report`` (the caller's, naming the source it gave), report.json and report.md are
    written from it instead of copied: on a cache hit the dataset's own files name the source of
    whoever built it first.
    """
    import shutil

    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")
    out.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        if report is not None and name in ("report.json", "report.md"):
            continue
        if (dataset_dir / name).exists():
            shutil.copy2(dataset_dir / name, out / name)
    if report is not None:
        write_report_json(out, report)
        (out / "report.md").write_text(render_markdown(report))
    return out / "report.md"
