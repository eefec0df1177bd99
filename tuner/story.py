"""The study's story inside optuna-dashboard: notes and artifacts written by the workers.

The dashboard is only as useful as what the study carries, so every worker calls two hooks:

* ``on_study_ready`` once after loading the study: a markdown study note (data source, tickers,
  split date ranges, purge gap, target method and its KS statistics, search space, sampler, pruner)
  and the dataset report images (target histogram and QQ plot, volatility histograms) as study
  artifacts.
* ``on_trial_complete`` after each completed trial: a trial note with the best epoch's metrics, and
  its checkpoint (which holds the best epoch's weights under ``best_model``) as the study artifact
  ``trial<N>_best.pt`` when the trial is the new best of the study.

Many workers start at once against one storage, so both hooks are idempotent and tolerate races:
artifact ids are derived from (study, trial, dataset key or trial tag, file name) instead of
``uuid4``, so two workers uploading the same image write the same file and the same attribute instead
of two copies; the file is written before the attribute that makes the dashboard list it, so a
listed artifact is complete. The story is decoration: ``_quietly`` is the one place where a failure
to write it is retried through a database outage and then logged and ignored.
"""
from __future__ import annotations

import io
import json
import logging
import math
import mimetypes
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.artifacts import ArtifactMeta

from data_prep.dataset import gap_days_of
from data_prep.dataset_report import DatasetReport
from data_prep.pipeline import PrepResult
from model.metric_names import METRICS

from .optuna_adapter import ARTIFACTS_ATTR_PREFIX, read_note, storage_of, study_id_of, trial_id_of, write_note
from .registry import PrunerConfig, SamplerConfig, shown_settings
from .retry import with_retries
from .study_config import StudyConfig
from .trials import compute_spent, count_words, state_counts
from .verdict_stats import Verdict

__all__ = ["on_study_ready", "on_trial_complete", "on_study_done", "study_note", "trial_note", "report_images", "upload_once",
           "STORY_ATTR", "BEST_CHECKPOINT_ATTR", "TRIAL_METRICS", "FitSummary"]

log = logging.getLogger(__name__)

# study system attr: the cache key of the dataset whose story has been told (skip when equal)
STORY_ATTR = "stocktune:story"
# study system attr: {"trial": number, "value": float, "artifact_id": id} of the best checkpoint so far
BEST_CHECKPOINT_ATTR = "stocktune:best_checkpoint"
# the metrics a trial's note shows, in this order (labels and formats from model.metrics)
TRIAL_METRICS: tuple[str, ...] = tuple(METRICS)

_NAMESPACE = uuid.UUID("7b0c3c8e-4f1e-4a57-9a57-5d1c8f0e6a11")


class FitSummary(Protocol):
    """What a trial note needs of a fit (``model.FitResult`` has it)."""

    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, float]]
    device: str


# --------------------------------------------------------------------------------------------- hooks

def on_study_ready(study: optuna.Study, cfg: StudyConfig, prep: PrepResult, artifact_store: Any,
                   folds: list[dict[str, Any]] | None = None) -> None:
    """Tell the study's story once: the study note and the dataset report images.

    Called by every worker after the study is loaded. The first worker writes; later ones find
    ``STORY_ATTR`` equal to the dataset's cache key and return at once. Two workers racing past the
    check write identical notes and identical (same-id) artifacts, so the result is the same.
    """
    def tell() -> None:
        storage, study_id = storage_of(study), study_id_of(study)
        key = _dataset_key(prep)
        if storage.get_study_system_attrs(study_id).get(STORY_ATTR) == key:
            return
        _save_note(storage, study_id, None, study_note(cfg, prep, study_name=study.study_name, folds=folds))
        if artifact_store is not None:
            for path in report_images(prep):
                upload_once(artifact_store, storage, study_id, None, path, tag=key)
        storage.set_study_system_attr(study_id, STORY_ATTR, key)

    _quietly(tell, "writing the study note and report artifacts")


def on_trial_complete(study: optuna.Study, trial: optuna.trial.FrozenTrial, fits: list[FitSummary],
                      artifact_store: Any, checkpoint_path: str | Path | None) -> None:
    """Write the trial note; upload the (last fold's) checkpoint when this trial is the study's new best.

    ``trial`` is the finished trial (after ``study.tell``): its system attrs are frozen, so the
    checkpoint becomes a study artifact ``trial<N>_best.pt``. ``fits``: one per fold.
    """
    def tell() -> None:
        if not fits:
            return
        storage, study_id = storage_of(study), study_id_of(study)
        fit = fits[-1]
        # the folds' means of the validation metrics (trial attrs), the rest from the last fold
        metrics = {**(fit.best_metrics or {}), **{k: v for k, v in trial.user_attrs.items() if k in METRICS}}
        value = _finite(trial.value)
        uploaded = None
        ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
        if (artifact_store is not None and ckpt is not None and value is not None
                and _is_new_best(study, storage, study_id, trial.number, value)):
            if ckpt.is_file():
                uploaded = f"trial{trial.number}_best.pt"
                artifact_id = upload_once(artifact_store, storage, study_id, None, ckpt,
                                          tag=f"trial-{trial.number}", filename=uploaded)
                storage.set_study_system_attr(study_id, BEST_CHECKPOINT_ATTR, {
                    "trial": int(trial.number), "value": float(value), "artifact_id": artifact_id,
                    "filename": uploaded})
            else:
                log.warning("trial %d: checkpoint %s not found; not uploaded", trial.number, ckpt)
        body = trial_note(trial.number, trial.user_attrs.get("best_epoch", fit.best_epoch), metrics,
                          history=[h for f in fits for h in (f.history or [])], device=fit.device,
                          params=dict(trial.params), checkpoint=uploaded, folds=_fold_rows(trial, fits))
        _save_note(storage, study_id, trial_id_of(trial), body)

    _quietly(tell, f"writing the note of trial {trial.number}")


def on_study_done(study: optuna.Study, cfg: StudyConfig, prep: PrepResult, folds: list[dict[str, Any]] | None,
                  verdict: Verdict | None) -> None:
    """Rewrite the study note with the verdict on the winner and the compute spent (after a worker's last
    trial, after confirm)."""
    def tell() -> None:
        trials = study.get_trials(deepcopy=False)
        compute = {**compute_spent(trials, cfg.direction), "counts": state_counts(trials)}
        body = study_note(cfg, prep, study_name=study.study_name, folds=folds, verdict=verdict, compute=compute)
        _save_note(storage_of(study), study_id_of(study), None, body)

    _quietly(tell, "writing the verdict into the study note")


def _quietly(fn: Callable[[], None], what: str) -> None:
    """Run an idempotent hook, retried through a database outage; a failure is only a warning."""
    try:
        with_retries(fn, what, max_wait=120.0)
    except Exception:  # noqa: BLE001 - the story is decoration, never a reason for a trial to fail
        log.warning("%s failed; the study goes on", what, exc_info=True)


# ------------------------------------------------------------------------------------------ notes

def study_note(cfg: StudyConfig, prep: PrepResult, study_name: str | None = None,
               folds: list[dict[str, Any]] | None = None, verdict: Verdict | None = None,
               compute: dict[str, Any] | None = None) -> str:
    """The study's markdown note: what data, which splits, which target, what is searched and how."""
    report, meta = prep.report, prep.meta
    p = cfg.data.prep
    tickers = list(meta.get("tickers") or [])
    lines = [f"# {study_name or cfg.name}", ""]
    if cfg.description:
        lines += [cfg.description, ""]
    if verdict is not None:
        from .verdict import format_verdict

        lines += ["## Verdict on the winner", "", "```", format_verdict(verdict), "```", "",
                  f"Method: {verdict.method}.", ""]
    if compute and compute.get("best_trial") is not None:
        lines += [f"Compute so far: {compute['epochs']:,} epochs in {compute['finished_trials']} finished trials; "
                  f"the best was found by trial {compute['best_trial']} after {compute['best_found_after_trials']} "
                  f"trials and {compute['best_found_at_epochs']:,} epochs."
                  + (f" Trials: {count_words(compute['counts'])}." if compute.get("counts") else ""), ""]
    lines += ["## Data", "",
              f"- **source**: `{cfg.data.source}`",
              f"- **tickers** ({len(tickers)}): {_short_list(tickers)}",
              f"- **look_back / look_ahead**: {p.look_back} / {p.look_ahead} trading days",
              f"- **purge gap**: {gap_days_of(meta)} trading days between splits (embargo {p.embargo})",
              f"- **dataset**: `{_dataset_key(prep)}`", ""]
    if report.splits:
        lines += ["| split | first window end | last window end | windows | tickers |", "|---|---|---|---:|---:|"]
        for name in ("train", "val", "test"):
            sp = report.splits.get(name)
            if sp is not None:
                lines.append(f"| {name} | {sp.start or '?'} | {sp.end or '?'} | {_fmt_int(sp.n_windows)} | "
                             f"{_fmt_int(sp.n_tickers)} |")
        lines.append("")

    if folds:
        lines += [f"## Validation: {len(folds)} walk-forward fold{'s' if len(folds) > 1 else ''} "
                  f"({cfg.validation.scheme})", "",
                  "A trial trains each fold and scores the mean of the folds' best epochs. Pruning compares trials "
                  "only at the same fold and epoch.", "",
                  "| fold | trains on | validates on | train windows | val windows |", "|---:|---|---|---:|---:|"]
        lines += [f"| {f['fold']} | {f['train'][0]} .. {f['train'][1]} | {f['val'][0]} .. {f['val'][1]} | "
                  f"{f['n_train']:,} | {f['n_val']:,} |" for f in folds]
        lines.append("")
    method = meta.get("target_method") or report.target_method or p.target
    lines += ["## Target", "", f"- **method**: `{method}` (rise probability in [0, 1])"]
    ks = _ks_rows(report)
    if ks:
        lines += ["", "| split | KS statistic vs uniform | p-value |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt_float(stat, '{:.4f}')} | {_fmt_float(pv, '{:.3g}')} |" for name, stat, pv in ks]
    lines += ["", "The report images (target histogram, QQ plot against uniform, volatility histograms "
              "per split) are this study's artifacts, below.", ""]

    lines += ["## Search space", ""]
    if cfg.search:
        lines += ["| parameter | range / choices |", "|---|---|"]
        lines += [f"| `{name}` | {_fmt_space(dim.to_mapping())} |" for name, dim in cfg.search.items()]
    else:
        lines.append("(none)")
    lines += ["", "## Sampler and pruner", "",
              f"- **sampler**: {_fmt_component(cfg.sampler)}",
              f"- **pruner**: {_fmt_component(cfg.pruner)}",
              f"- **budget**: {cfg.n_trials} trials"]
    fixed = ", ".join(f"{k}={v}" for k, v in cfg.train.items() if k not in cfg.search)
    if fixed:
        lines += [f"- **fixed training settings**: {fixed}"]
    return "\n".join(lines) + "\n"


def trial_note(number: int, best_epoch: Any, metrics: Mapping[str, Any], *, history: Iterable[Mapping] = (),
               device: str | None = None, params: Mapping[str, Any] | None = None,
               checkpoint: str | None = None, folds: list[dict[str, Any]] | None = None) -> str:
    """One trial's markdown note: the metrics (the folds' mean) in a table, and each fold's own (the
    learning curves are the intermediate-values chart, which the worker reports per epoch)."""
    history = list(history)
    if folds and len(folds) > 1:
        lines = [f"## Trial {number}: mean of {len(folds)} folds ({len(history)} epochs trained)", ""]
    else:
        lines = [f"## Trial {number}: best epoch {best_epoch} of {len(history) or '?'}", ""]
    lines += ["| metric | value |", "|---|---|"]
    for key in TRIAL_METRICS:
        if metrics.get(key) is not None and not (key == "gpu_peak_mb" and not metrics[key]):
            lines.append(f"| {METRICS[key].label} | {_fmt_float(metrics[key], METRICS[key].fmt)} |")
    peak_rss = max((float(h.get("rss_mb") or 0) for h in [*history, metrics]), default=0.0)
    if peak_rss:
        lines.append(f"| peak RSS, all epochs (MB) | {peak_rss:,.0f} |")
    if folds and len(folds) > 1:
        lines += ["", "| fold | value | best epoch | epochs | stopped early |", "|---:|---:|---:|---:|---|"]
        lines += [f"| {f['fold']} | {_fmt_float(f['value'], '{:.5g}')} | {f['best_epoch']} | {f['epochs']} | "
                  f"{'yes' if f['stopped_early'] else 'no'} |" for f in folds]
    if device:
        lines += ["", f"device: `{device}`"]
    if params:
        lines += ["", "params: " + ", ".join(f"`{k}`={_fmt_param(v)}" for k, v in params.items())]
    if checkpoint:
        lines += ["", f"New best of the study: its checkpoint is the study artifact `{checkpoint}`."]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- artifacts

def report_images(prep: PrepResult) -> list[Path]:
    """The dataset report's PNG files (target histogram, QQ plot, volatility histograms), sorted."""
    return sorted(p for p in Path(prep.path).glob("*.png") if p.is_file())


def upload_once(artifact_store: Any, storage: Any, study_id: int, trial_id: int | None, file_path: Path,
                tag: str, filename: str | None = None) -> str:
    """Upload ``file_path`` under an id derived from (study, trial, tag, filename); return the id.

    Unlike ``optuna.artifacts.upload_artifact`` (a fresh uuid4 per call), repeating this call - from
    another worker, or after a restart - overwrites the same artifact instead of adding a copy.
    """
    filename = filename or Path(file_path).name
    artifact_id = str(uuid.uuid5(_NAMESPACE, f"{study_id}/{trial_id}/{tag}/{filename}"))
    mimetype, encoding = mimetypes.guess_type(filename)
    meta = ArtifactMeta(artifact_id=artifact_id, filename=filename,
                        mimetype=mimetype or "application/octet-stream", encoding=encoding)
    data = Path(file_path).read_bytes()
    artifact_store.write(artifact_id, io.BytesIO(data))  # content first: a listed artifact is complete
    attr = ARTIFACTS_ATTR_PREFIX + artifact_id
    value = json.dumps(asdict(meta))
    if trial_id is None:
        storage.set_study_system_attr(study_id, attr, value)
    else:
        storage.set_trial_system_attr(trial_id, attr, value)
    return artifact_id


# -------------------------------------------------------------------------------------- internals

def _save_note(storage: Any, study_id: int, trial_id: int | None, body: str) -> None:
    """Save a dashboard note unless it already holds this text (so repeated calls add no versions)."""
    current = read_note(storage, study_id, trial_id)
    if current["body"] == body:
        return
    write_note(storage, study_id, trial_id, int(current["version"]) + 1, body)


def _fold_rows(trial: optuna.trial.FrozenTrial, fits: list[FitSummary]) -> list[dict[str, Any]]:
    values = trial.user_attrs.get("fold_values") or [None] * len(fits)
    return [{"fold": i + 1, "value": v, "best_epoch": f.best_epoch, "epochs": len(f.history or []),
             "stopped_early": bool(getattr(f, "stopped_early", False))} for i, (f, v) in enumerate(zip(fits, values))]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _is_new_best(study: optuna.Study, storage: Any, study_id: int, number: int, value: float) -> bool:
    """True when ``value`` beats every other completed trial and the best checkpoint recorded so far."""
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    others = [t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
              if t.number != number and t.value is not None]
    recorded = storage.get_study_system_attrs(study_id).get(BEST_CHECKPOINT_ATTR)
    if isinstance(recorded, Mapping) and recorded.get("trial") != number and recorded.get("value") is not None:
        others.append(float(recorded["value"]))
    return all(sign * value < sign * float(o) for o in others)


def _dataset_key(prep: PrepResult) -> str:
    return str(prep.meta.get("cache_key") or Path(prep.path).name)


def _ks_rows(report: DatasetReport) -> list[tuple[str, Any, Any]]:
    """(split, KS statistic of the target vs uniform, p-value) of each split the report has a KS statistic for."""
    rows: list[tuple[str, Any, Any]] = []
    for name in ("train", "val", "test"):
        sp = report.splits.get(name)
        if sp is not None and not math.isnan(sp.target_ks_stat):
            rows.append((name, sp.target_ks_stat, sp.target_ks_p))
    return rows


def _short_list(items: list[str], limit: int = 20) -> str:
    if not items:
        return "?"
    shown = ", ".join(f"`{t}`" for t in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _fmt_space(spec: Any) -> str:
    """A search dimension's ``to_mapping()``: a range, choices, or (a Fixed one) its bare value."""
    if not isinstance(spec, Mapping):
        return f"fixed at `{spec}`"
    if "choices" in spec:
        return "one of " + ", ".join(f"`{c}`" for c in spec["choices"])
    low, high = spec.get("low"), spec.get("high")
    extra = []
    if spec.get("log"):
        extra.append("log scale")
    if spec.get("step") is not None:
        extra.append(f"step {spec['step']}")
    return f"[{low}, {high}]" + (f" ({', '.join(extra)})" if extra else "")


def _fmt_component(config: SamplerConfig | PrunerConfig) -> str:
    """A [sampler]/[pruner] table: its name and the settings that kind reads (tuner/registry.py)."""
    rest = ", ".join(f"{k}={v}" for k, v in shown_settings(config).items())
    return f"`{config.name}`" + (f" ({rest})" if rest else "")


def _fmt_float(value: Any, fmt: str) -> str:
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _fmt_int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fmt_param(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
