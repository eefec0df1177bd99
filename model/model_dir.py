"""The model directory: its files, their checks, and its load and save (the one owner of the format).

A single model (``stocktune fit --out`` / ``--final --out``)::

    model.pt           state_dict (loaded with weights_only=True)
    config.json        TrainConfig mapping (architecture included)
    dataset_meta.json  the prepared dataset's meta.json: scaler, target transform, feature names,
                       prep settings, source, cache_key -- what `evaluate`/`predict` need to rebuild inputs
    extra.json         what the refit adds (best epoch, metrics, dataset dir, the run file's [result]...)

An ensemble (``fit --final`` of a run file from ``stocktune export --ensemble``)::

    ensemble.json      the manifest: format, cache_key, and per member its name, trial, seed, epochs
                       and the sha256 of its config (written last: a directory without it is no ensemble)
    dataset_meta.json  the dataset all members were trained on (the same file as each member's)
    extra.json         what the refit adds for the whole ensemble
    members/NAME/      each member a single-model directory as above

Every check runs on the JSON files alone (no torch), so a wrong directory fails fast, before any data
is read; a member whose dataset or config does not match the manifest is refused naming the member
and the file, because averaging models trained on different data would score nothing meaningful.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import InputError
from common.files import write_json_atomic

from .config import TrainConfig

__all__ = ["HINT", "MODEL_FILES", "MANIFEST", "MEMBERS_DIR", "VERDICT_KEYS", "MemberInfo", "ModelDirInfo",
           "MemberModel", "SavedModel", "LoadedModel", "check_model_dir", "read_train_config", "config_digest",
           "save_model", "save_ensemble", "load_model_dir", "load_model"]

HINT = "create one with `stocktune fit --config best.toml --final --out MODEL_DIR`"
MODEL_FILES = ("model.pt", "config.json", "dataset_meta.json")
MANIFEST = "ensemble.json"
MEMBERS_DIR = "members"
FORMAT = 1  # ensemble.json's format version
# one-line verdicts a run file's [result] may carry (written by `export`); `evaluate` prints them
VERDICT_KEYS = ("verdict_baselines", "verdict_defaults")


# ------------------------------------------------------------------------------ what the files say

@dataclass(frozen=True)
class MemberInfo:
    """One network of a model directory, as its files describe it (a single model has one)."""

    name: str
    path: Path  # the directory holding its model.pt and config.json
    cfg: TrainConfig
    trial: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class ModelDirInfo:
    """A checked model directory: its dataset meta, extra.json and members (no weights loaded)."""

    path: Path
    meta: dict[str, Any]
    extra: dict[str, Any]
    members: tuple[MemberInfo, ...]
    ensemble: bool

    @property
    def verdicts(self) -> tuple[str, ...]:
        """The study's verdict lines the run file carried into the directory (none for older ones)."""
        return tuple(str(self.extra[k]) for k in VERDICT_KEYS if isinstance(self.extra.get(k), str))


def config_digest(cfg: TrainConfig) -> str:
    """sha256 of a config's canonical JSON: the manifest's record of what each member was trained with."""
    return hashlib.sha256(json.dumps(cfg.to_mapping(), sort_keys=True).encode()).hexdigest()


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not readable JSON ({e}); {what}.") from None


def read_train_config(model_dir: str | Path) -> TrainConfig:
    """config.json of a (member) directory as a TrainConfig (no torch needed)."""
    d = Path(model_dir)
    mapping = _json(d / "config.json", HINT)
    if not isinstance(mapping, dict):
        raise InputError(f"{d / 'config.json'} is not a [train] table (a JSON object); {HINT}.")
    # to_mapping() drops None values, so a final refit's eval_split=None is saved as "absent" and
    # must not come back as the default "val" (which TrainConfig rejects next to train_splits=[train, val])
    return TrainConfig.from_mapping({"eval_split": None, **mapping}, f"{d / 'config.json'}")


def _dataset_meta(path: Path, require_source: bool = True) -> dict[str, Any]:
    meta = _json(path, HINT)
    if not isinstance(meta, dict):
        raise InputError(f"{path} is not a dataset meta (a JSON object); {HINT}.")
    if require_source and (not isinstance(meta.get("source"), str) or not isinstance(meta.get("prep"), dict)):
        raise InputError(f"{path} has no `source`/`prep` entries, so the data cannot be prepared the same way; {HINT}.")
    return meta


def _missing(d: Path, names: Sequence[str]) -> list[str]:
    return [f for f in names if not (d / f).is_file()]


def check_model_dir(model_dir: str | Path, require_source: bool = True) -> ModelDirInfo:
    """Check MODEL_DIR's files (every member's, for an ensemble) without importing torch.

    ``require_source``: the dataset meta must say how to prepare the data again (what `evaluate` and
    `predict` need; a model saved from an in-memory dataset through the library has no source)."""
    path = Path(model_dir)
    if not path.is_dir():
        raise InputError(f"MODEL_DIR {path} does not exist or is not a directory; {HINT}.")
    if (path / MANIFEST).is_file():
        return _check_ensemble(path)
    missing = _missing(path, MODEL_FILES)
    if missing:
        raise InputError(f"{path} is not a model directory (missing {', '.join(missing)}); {HINT}.")
    meta = _dataset_meta(path / "dataset_meta.json", require_source)
    extra = _json(path / "extra.json", HINT) if (path / "extra.json").is_file() else {}
    member = MemberInfo("model", path, read_train_config(path))
    return ModelDirInfo(path, meta, extra if isinstance(extra, dict) else {}, (member,), ensemble=False)


def _check_ensemble(path: Path) -> ModelDirInfo:
    manifest_path = path / MANIFEST
    manifest = _json(manifest_path, HINT)
    entries = manifest.get("members") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{manifest_path} lists no members (a non-empty `members` list is required); {HINT}.")
    if manifest.get("format") != FORMAT:
        raise InputError(f"{manifest_path} has format {manifest.get('format')!r}; this stocktune reads format {FORMAT}; "
                         f"{HINT}.")
    missing = _missing(path, ("dataset_meta.json",))
    if missing:
        raise InputError(f"{path} is not a model directory (missing dataset_meta.json); {HINT}.")
    meta = _dataset_meta(path / "dataset_meta.json")
    key = manifest.get("cache_key")
    if key != meta.get("cache_key"):
        raise InputError(f"{manifest_path} records the dataset {key!r}, but {path / 'dataset_meta.json'} is "
                         f"{meta.get('cache_key')!r}; {HINT}.")
    members = []
    for i, e in enumerate(entries):
        name = e.get("name")
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise InputError(f"{manifest_path}, members[{i}]: name must be a plain directory name, but got {name!r}.")
        members.append(_check_member(path, manifest_path, name, e, meta))
    extra = _json(path / "extra.json", HINT) if (path / "extra.json").is_file() else {}
    return ModelDirInfo(path, meta, extra if isinstance(extra, dict) else {}, tuple(members), ensemble=True)


def _check_member(path: Path, manifest_path: Path, name: str, entry: Mapping[str, Any],
                  meta: Mapping[str, Any]) -> MemberInfo:
    d = path / MEMBERS_DIR / name
    missing = _missing(d, MODEL_FILES)
    if missing:
        raise InputError(f"member {name} of {path} is incomplete (missing {', '.join(str(d / f) for f in missing)}); "
                         f"{HINT}.")
    member_meta = _dataset_meta(d / "dataset_meta.json")
    if member_meta.get("cache_key") != meta.get("cache_key"):
        raise InputError(f"member {name} was trained on another dataset: {d / 'dataset_meta.json'} has cache key "
                         f"{member_meta.get('cache_key')!r}, the ensemble's ({manifest_path}) is "
                         f"{meta.get('cache_key')!r}; every member must be trained on the same data ({HINT}).")
    differ = sorted(k for k in set(member_meta) | set(meta) if member_meta.get(k) != meta.get(k))
    if differ:
        raise InputError(f"member {name}'s dataset differs from the ensemble's: {d / 'dataset_meta.json'} and "
                         f"{path / 'dataset_meta.json'} disagree on {', '.join(differ)}; {HINT}.")
    cfg = read_train_config(d)
    if config_digest(cfg) != entry.get("config_sha256"):
        raise InputError(f"member {name}'s config does not match the manifest: {d / 'config.json'} is not the "
                         f"config {manifest_path} recorded for it (sha256 {str(entry.get('config_sha256'))[:12]}); "
                         f"it was edited or copied from another model; {HINT}.")
    trial, seed = entry.get("trial"), entry.get("seed")
    return MemberInfo(name, d, cfg, trial if isinstance(trial, int) else None,
                      seed if isinstance(seed, int) else None)


# ------------------------------------------------------------------------------------ save

def save_model(directory: str | Path, net: Any, cfg: TrainConfig, dataset_meta: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None) -> Path:
    """Write a single-model directory (each file atomically; weights last-but-one, extra.json last).

    The manifest of an ensemble saved there before goes first, so the directory is never read as a
    mix of the two."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(d / MEMBERS_DIR, ignore_errors=True)
    _write_single(d, net, cfg, dataset_meta, extra)
    return d


def _write_single(d: Path, net: Any, cfg: TrainConfig, dataset_meta: Mapping[str, Any],
                  extra: Mapping[str, Any] | None) -> None:
    from .checkpoint import save_atomic  # torch: only when there are weights to write

    write_json_atomic(d / "config.json", cfg.to_mapping(), sort_keys=True)
    write_json_atomic(d / "dataset_meta.json", dict(dataset_meta), sort_keys=True)
    save_atomic({k: v.detach().cpu() for k, v in net.state_dict().items()}, d / "model.pt")
    write_json_atomic(d / "extra.json", dict(extra or {}), sort_keys=True)


@dataclass(frozen=True)
class MemberModel:
    """A trained member to save: its network and config, where it came from, and its extra.json."""

    name: str
    net: Any  # StockRNN
    cfg: TrainConfig
    trial: int | None
    seed: int | None
    extra: Mapping[str, Any]


def save_ensemble(directory: str | Path, members: Sequence[MemberModel], dataset_meta: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write an ensemble directory: the members, the shared dataset meta and extra.json, then the
    manifest (last: until it is complete the directory is no model at all, never half an ensemble)."""
    if not members:
        raise InputError("an ensemble needs at least one member.")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise InputError(f"ensemble member names must be unique, but got {names}.")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST).unlink(missing_ok=True)
    for stale in MODEL_FILES[:2]:  # a single model saved there before: its weights and config
        (d / stale).unlink(missing_ok=True)
    shutil.rmtree(d / MEMBERS_DIR, ignore_errors=True)
    for m in members:
        _write_single(d / MEMBERS_DIR / m.name, m.net, m.cfg, dataset_meta, m.extra)
    write_json_atomic(d / "dataset_meta.json", dict(dataset_meta), sort_keys=True)
    write_json_atomic(d / "extra.json", dict(extra or {}), sort_keys=True)
    manifest = {"format": FORMAT, "combine": "mean of the members' rise probabilities",
                "cache_key": dataset_meta.get("cache_key"),
                "members": [{"name": m.name, "trial": m.trial, "seed": m.seed, "epochs": m.cfg.epochs,
                             "config_sha256": config_digest(m.cfg)} for m in members]}
    write_json_atomic(d / MANIFEST, manifest)
    return d


# ------------------------------------------------------------------------------------ load

@dataclass(frozen=True)
class LoadedModel:
    """One network loaded from its directory, with its config, dataset meta and extra.json."""

    net: Any  # StockRNN
    cfg: TrainConfig
    meta: dict[str, Any]
    extra: dict[str, Any]


@dataclass(frozen=True)
class SavedModel:
    """A loaded model directory: ``net`` answers for the whole of it (the mean of an ensemble's members)."""

    info: ModelDirInfo
    nets: tuple[Any, ...]  # one StockRNN per member, in ``info.members`` order

    @property
    def net(self) -> Any:
        if len(self.nets) == 1:
            return self.nets[0]
        from .ensemble import MeanOfMembers

        return MeanOfMembers(self.nets)

    @property
    def eval_batch_size(self) -> int:
        """The smallest of the members' evaluation batches (every member sees each batch)."""
        return min(m.cfg.eval_batch_size for m in self.info.members)


def _load_net(d: Path, cfg: TrainConfig, n_features: int, device: Any) -> Any:
    import torch

    from .network import build_network

    net = build_network(cfg, n_features)
    net.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
    return net.to(device).eval()


def load_model_dir(model_dir: str | Path | ModelDirInfo, device: Any = "cpu") -> SavedModel:
    """Check and load a model directory (single or ensemble); a truncated or foreign weights file is an
    InputError naming it."""
    info = model_dir if isinstance(model_dir, ModelDirInfo) else check_model_dir(model_dir)
    n_features = len(info.meta.get("feature_names") or ())
    nets = []
    for m in info.members:
        try:
            nets.append(_load_net(m.path, m.cfg, n_features, device))
        except Exception as e:  # noqa: BLE001 - a truncated or foreign file: say which file and what to do
            where = m.path / "model.pt"
            raise InputError(f"{where} holds a model that cannot be loaded ({type(e).__name__}: {e}); {HINT}.") from None
    return SavedModel(info, tuple(nets))


def load_model(directory: str | Path, device: Any = "cpu") -> LoadedModel:
    """One single-model directory as a LoadedModel (the library API; `evaluate`/`predict` use
    ``load_model_dir``, which also reads ensembles)."""
    info = check_model_dir(directory, require_source=False)
    if info.ensemble:
        raise InputError(f"{info.path} is an ensemble; load it with model.model_dir.load_model_dir.")
    saved = load_model_dir(info, device)
    return LoadedModel(saved.nets[0], saved.info.members[0].cfg, saved.info.meta, saved.info.extra)
