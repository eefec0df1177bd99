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
listed artifact is complete. Each hook is retried through a database outage; if it still fails it
is logged and swallowed: the story is decoration, never a reason for a trial to fail.
"""
from __future__ import annotations

import io
import json
import logging
import math
import mimetypes
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import optuna
from optuna.artifacts import ArtifactMeta

try:  # the attribute prefix optuna and optuna-dashboard use to list artifacts
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX
except ImportError:  # pragma: no cover - older/newer optuna
    ARTIFACTS_ATTR_PREFIX = "artifacts:"

from optuna_dashboard._note import get_note_from_system_attrs, save_note_with_version

__all__ = [
    "on_study_ready",
    "on_trial_complete",
    "study_note",
    "trial_note",
    "report_images",
    "upload_once",
    "STORY_ATTR",
    "BEST_CHECKPOINT_ATTR",
    "TRIAL_METRICS",
]

log = logging.getLogger(__name__)

# study system attr: the cache key of the dataset whose story has been told (skip when equal)
STORY_ATTR = "stocktune:story"
# study system attr: {"trial": number, "value": float, "artifact_id": id} of the best checkpoint so far
BEST_CHECKPOINT_ATTR = "stocktune:best_checkpoint"

# (metric key, label, format) shown in each trial's note, in this order
TRIAL_METRICS: tuple[tuple[str, str, str], ...] = (
    ("val_mae", "validation MAE", "{:.5f}"),
    ("val_rmse", "validation RMSE", "{:.5f}"),
    ("val_ic", "IC (Spearman, per date)", "{:+.4f}"),
    ("val_icir", "ICIR", "{:+.3f}"),
    ("val_dir_acc", "directional accuracy", "{:.2%}"),
    ("val_skill_half", "skill vs constant 0.5", "{:+.2%}"),
    ("val_skill_mean", "skill vs train mean", "{:+.2%}"),
    ("baseline_mae_half", "baseline MAE (0.5)", "{:.5f}"),
    ("baseline_mae_mean", "baseline MAE (train mean)", "{:.5f}"),
    ("train_loss", "train loss", "{:.5f}"),
    ("samples_per_s", "throughput (samples/s)", "{:,.0f}"),
    ("epoch_time_s", "epoch time (s)", "{:.2f}"),
    ("gpu_peak_mb", "GPU peak memory (MB)", "{:,.0f}"),
)

# the pruner settings that matter for each pruner (the others are defaults it ignores)
_PRUNER_KEYS = {
    "median": ("n_startup_trials", "n_warmup_steps", "interval_steps"),
    "successive_halving": ("min_resource", "reduction_factor"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor"),
    "none": (),
}

_NAMESPACE = uuid.UUID("7b0c3c8e-4f1e-4a57-9a57-5d1c8f0e6a11")


# --------------------------------------------------------------------------------------------- hooks

def on_study_ready(study: optuna.Study, study_cfg: Any, prep_result: Any, artifact_store: Any) -> None:
    """Tell the study's story once: the study note and the dataset report images.

    Called by every worker after the study is loaded. The first worker writes; later ones find
    ``STORY_ATTR`` equal to the dataset's cache key and return at once. Two workers racing past the
    check write identical notes and identical (same-id) artifacts, so the result is the same.
    """
    def tell() -> None:
        storage, study_id = study._storage, study._study_id
        key = _dataset_key(prep_result)
        if storage.get_study_system_attrs(study_id).get(STORY_ATTR) == key:
            return
        body = study_note(study_cfg, prep_result, study_name=study.study_name)
        _save_note(storage, study_id, None, body)
        if artifact_store is not None:
            for path in report_images(prep_result):
                upload_once(artifact_store, storage, study_id, None, path, tag=key)
        storage.set_study_system_attr(study_id, STORY_ATTR, key)

    _quietly(tell, "writing the study note and report artifacts")


def on_trial_complete(study: optuna.Study, trial: Any, fit_result: Any, artifact_store: Any,
                      checkpoint_path: str | Path | None) -> None:
    """Write the trial note; upload the checkpoint when this trial is the study's new best.

    ``trial`` may be the live ``optuna.Trial`` (called inside the objective, before it returns) or the
    ``FrozenTrial`` after ``study.tell`` (what the worker passes). The objective value is the trial's
    value when it has one, else the best epoch's value of the study's objective metric
    (``study.user_attrs["objective_metric"]``, default ``val_mae``). A finished trial's system attrs
    are frozen, so after ``tell`` the checkpoint becomes a study artifact ``trial<N>_best.pt``.
    """
    def tell() -> None:
        storage, study_id = study._storage, study._study_id
        metrics = dict(getattr(fit_result, "best_metrics", None) or {})
        value = _trial_value(study, trial, metrics)
        uploaded = None
        ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
        if (artifact_store is not None and ckpt is not None and value is not None
                and _is_new_best(study, storage, study_id, trial.number, value)):
            if ckpt.is_file():
                finished = isinstance(trial, optuna.trial.FrozenTrial) and trial.state.is_finished()
                uploaded = f"trial{trial.number}_best.pt"
                artifact_id = upload_once(artifact_store, storage, study_id, None if finished else trial._trial_id,
                                          ckpt, tag=f"trial-{trial.number}", filename=uploaded)
                storage.set_study_system_attr(study_id, BEST_CHECKPOINT_ATTR, {
                    "trial": int(trial.number), "value": float(value), "artifact_id": artifact_id,
                    "filename": uploaded})
            else:
                log.warning("trial %d: checkpoint %s not found; not uploaded", trial.number, ckpt)
        body = trial_note(trial.number, getattr(fit_result, "best_epoch", metrics.get("epoch")), metrics,
                          history=getattr(fit_result, "history", None) or [],
                          device=getattr(fit_result, "device", None), params=dict(trial.params),
                          checkpoint=uploaded)
        _save_note(storage, study_id, trial._trial_id, body)

    _quietly(tell, f"writing the note of trial {getattr(trial, 'number', '?')}")


def _quietly(fn: Any, what: str) -> None:
    """Run an idempotent hook, retried through a database outage; a failure is only a warning."""
    try:
        from .retry import with_retries

        with_retries(fn, what, max_wait=120.0)
    except Exception:  # noqa: BLE001 - the story is decoration, never a reason for a trial to fail
        log.warning("%s failed; the study goes on", what, exc_info=True)


# ------------------------------------------------------------------------------------------ notes

def study_note(study_cfg: Any, prep_result: Any, study_name: str | None = None) -> str:
    """The study's markdown note: what data, which splits, which target, what is searched and how."""
    report = _report(prep_result)
    meta = _meta(prep_result)
    data = _get(study_cfg, "data")
    source = _get(data, "source") or meta.get("source") or report.get("source") or "?"
    prep = _prep_mapping(data, meta)
    tickers = list(meta.get("tickers") or report.get("tickers") or [])

    lines = [f"# {study_name or _get(study_cfg, 'name') or 'stocktune study'}", ""]
    lines += ["## Data", "",
              f"- **source**: `{source}`",
              f"- **tickers** ({len(tickers)}): {_short_list(tickers)}",
              f"- **look_back / look_ahead**: {prep.get('look_back', meta.get('look_back', '?'))} / "
              f"{prep.get('look_ahead', meta.get('look_ahead', '?'))} trading days",
              f"- **purge gap**: {_purge_gap(prep, meta, report)} trading days between splits "
              f"(embargo {prep.get('embargo', 0)})",
              f"- **dataset**: `{_dataset_key(prep_result)}`", ""]
    splits = report.get("splits") or meta.get("splits") or {}
    if splits:
        lines += ["| split | first window end | last window end | windows | tickers |", "|---|---|---|---:|---:|"]
        for name in ("train", "val", "test"):
            sp = splits.get(name)
            if isinstance(sp, Mapping):
                lines.append(f"| {name} | {sp.get('start', '?')} | {sp.get('end', '?')} | "
                             f"{_fmt_int(sp.get('n_windows', '?'))} | {_fmt_int(sp.get('n_tickers', '?'))} |")
        lines.append("")

    method = meta.get("target_method") or report.get("target_method") or prep.get("target", "?")
    lines += ["## Target", "", f"- **method**: `{method}` (rise probability in [0, 1])"]
    ks = _ks_rows(report)
    if ks:
        lines += ["", "| split | KS statistic vs uniform | p-value |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt_float(stat, '{:.4f}')} | {_fmt_float(p, '{:.3g}')} |"
                  for name, stat, p in ks]
    lines += ["", "The report images (target histogram, QQ plot against uniform, volatility histograms "
              "per split) are this study's artifacts, below.", ""]

    lines += ["## Search space", ""]
    search = _as_mapping(_get(study_cfg, "search"))
    if search:
        lines += ["| parameter | range / choices |", "|---|---|"]
        lines += [f"| `{name}` | {_fmt_space(spec)} |" for name, spec in search.items()]
    else:
        lines.append("(none)")
    lines += ["", "## Sampler and pruner", "",
              f"- **sampler**: {_fmt_component(_get(study_cfg, 'sampler'))}",
              f"- **pruner**: {_fmt_component(_get(study_cfg, 'pruner'), _PRUNER_KEYS)}"]
    n_trials = _get(study_cfg, "n_trials")
    if n_trials is not None:
        lines.append(f"- **budget**: {n_trials} trials")
    train = _as_mapping(_get(study_cfg, "train"))
    if train:
        fixed = ", ".join(f"{k}={v}" for k, v in train.items() if k not in search)
        lines += [f"- **fixed training settings**: {fixed}"]
    return "\n".join(lines) + "\n"


def trial_note(number: int, best_epoch: Any, metrics: Mapping[str, Any], *, history: Iterable[Mapping] = (),
               device: str | None = None, params: Mapping[str, Any] | None = None,
               checkpoint: str | None = None) -> str:
    """One trial's markdown note: the best epoch's metrics in a table (the learning curve is the
    intermediate-values chart, which the worker reports per epoch)."""
    history = list(history)
    lines = [f"## Trial {number}: best epoch {best_epoch} of {len(history) or '?'}", ""]
    lines += ["| metric | value |", "|---|---|"]
    for key, label, fmt in TRIAL_METRICS:
        if metrics.get(key) is not None and not (key == "gpu_peak_mb" and not metrics[key]):
            lines.append(f"| {label} | {_fmt_float(metrics[key], fmt)} |")
    peak_rss = max((float(h.get("rss_mb") or 0) for h in [*history, metrics]), default=0.0)
    if peak_rss:
        lines.append(f"| peak RSS, all epochs (MB) | {peak_rss:,.0f} |")
    if device:
        lines += ["", f"device: `{device}`"]
    if params:
        lines += ["", "params: " + ", ".join(f"`{k}`={_fmt_param(v)}" for k, v in params.items())]
    if checkpoint:
        lines += ["", f"New best of the study: its checkpoint is the study artifact `{checkpoint}`."]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- artifacts

def report_images(prep_result: Any) -> list[Path]:
    """The dataset report's PNG files (target histogram, QQ plot, volatility histograms), sorted."""
    path = _get(prep_result, "path")
    if path is None:
        return []
    return sorted(p for p in Path(path).glob("*.png") if p.is_file())


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
    current = get_note_from_system_attrs(storage.get_study_system_attrs(study_id), trial_id)
    if current["body"] == body:
        return
    save_note_with_version(storage, study_id, trial_id, int(current["version"]) + 1, body)


def _trial_value(study: optuna.Study, trial: Any, metrics: Mapping[str, Any]) -> float | None:
    value = getattr(trial, "value", None) if isinstance(trial, optuna.trial.FrozenTrial) else None
    if value is None:
        key = study.user_attrs.get("objective_metric", "val_mae")
        value = metrics.get(key)
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


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _as_mapping(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    for attr in ("to_mapping", "to_dict", "as_dict"):
        if callable(getattr(obj, attr, None)):
            return dict(getattr(obj, attr)())
    try:
        return asdict(obj)
    except TypeError:
        return {"value": obj}


def _report(prep_result: Any) -> dict[str, Any]:
    report = _get(prep_result, "report")
    if isinstance(report, Mapping):
        return dict(report)
    path = _get(prep_result, "path")
    if path is not None and (Path(path) / "report.json").is_file():
        return json.loads((Path(path) / "report.json").read_text())
    return {}


def _meta(prep_result: Any) -> dict[str, Any]:
    path = _get(prep_result, "path")
    if path is not None and (Path(path) / "meta.json").is_file():
        return json.loads((Path(path) / "meta.json").read_text())
    return {}


def _dataset_key(prep_result: Any) -> str:
    meta = _meta(prep_result)
    if meta.get("cache_key"):
        return str(meta["cache_key"])
    path = _get(prep_result, "path")
    return Path(path).name if path is not None else "unknown"


def _prep_mapping(data: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    prep = _get(data, "prep")
    if prep is not None:
        return _as_mapping(prep)
    if isinstance(meta.get("prep"), Mapping):
        return dict(meta["prep"])
    return {k: v for k, v in _as_mapping(data).items() if k != "source"}


def _purge_gap(prep: Mapping[str, Any], meta: Mapping[str, Any], report: Mapping[str, Any]) -> Any:
    for src in (report, meta):
        for key in ("purge_gap_days", "gap_days", "purge_gap"):
            if src.get(key) is not None:
                return src[key]
    gap = prep.get("purge_gap")
    if gap is None:
        gap = prep.get("look_ahead", meta.get("look_ahead", "?"))
        if isinstance(gap, int):
            gap += int(prep.get("embargo", 0) or 0)
    return gap


def _ks_rows(report: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(split, KS statistic of the target vs uniform, p-value) from report.json's ``splits``."""
    rows: list[tuple[str, Any, Any]] = []
    splits = report.get("splits") if isinstance(report.get("splits"), Mapping) else {}
    for name in ("train", "val", "test"):
        sp = splits.get(name)
        if isinstance(sp, Mapping) and sp.get("target_ks_stat") is not None:
            rows.append((name, sp["target_ks_stat"], sp.get("target_ks_p")))
    return rows


def _short_list(items: list[str], limit: int = 20) -> str:
    if not items:
        return "?"
    shown = ", ".join(f"`{t}`" for t in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _fmt_space(spec: Any) -> str:
    if callable(getattr(spec, "to_mapping", None)):
        spec = spec.to_mapping()  # tuner.space dimensions; a Fixed one gives its bare value
    if isinstance(spec, (list, tuple)):
        spec = {"choices": list(spec)}
    if not isinstance(spec, Mapping):
        return f"fixed at `{spec}`"
    spec = dict(spec)
    if "choices" in spec:
        return "one of " + ", ".join(f"`{c}`" for c in spec["choices"])
    low, high = spec.get("low"), spec.get("high")
    extra = []
    if spec.get("log"):
        extra.append("log scale")
    if spec.get("step") is not None:
        extra.append(f"step {spec['step']}")
    base = f"[{low}, {high}]" if low is not None or high is not None else json.dumps(spec, default=str)
    kind = spec.get("type")
    return " ".join(x for x in (kind, base) if x) + (f" ({', '.join(extra)})" if extra else "")


def _fmt_component(obj: Any, relevant: Mapping[str, tuple[str, ...]] | None = None) -> str:
    m = _as_mapping(obj)
    if not m:
        return "optuna default"
    kind = m.pop("type", m.pop("name", m.pop("kind", None)))
    if relevant is not None and kind in relevant:
        m = {k: v for k, v in m.items() if k in relevant[kind]}
    rest = ", ".join(f"{k}={v}" for k, v in m.items() if v is not None)
    return f"`{kind or '?'}`" + (f" ({rest})" if rest else "")


def _fmt_float(value: Any, fmt: str) -> str:
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _fmt_int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fmt_param(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
