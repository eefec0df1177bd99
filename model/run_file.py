"""The run file: [data] + [train] (+ [result] from an export), read by `fit` and written by `export`.

A study file shares the [data] and [train] tables with this format, so an exported best config is
accepted by `stocktune fit --config` unchanged. Precedence CLI > file > default is resolved here,
in one place.

An ensemble run file (`stocktune export --ensemble`) has [data], [result] and one [[members]] table
per member (``name``, ``trial``, ``seed``, ``epochs`` and its own [members.train]) instead of [train]:
the members may differ in architecture (the confirmed top-k) but share the data.
"""
from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from common.errors import InputError
from common.files import write_text_atomic
from common.settings import toml_text
from data_prep.config import PrepConfig
from model.config import TrainConfig

__all__ = ["DataSpec", "RunMember", "RunConfig", "VERDICT_KEYS", "read_toml", "parse_data", "data_spec_of", "load_run_config", "write_toml_atomic"]


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is prepared."""

    source: str
    prep: PrepConfig

    def to_mapping(self) -> dict[str, Any]:
        return {"source": self.source, **self.prep.to_mapping()}


# one-line verdicts of the study that [result] may carry (written by `export`, printed by `evaluate`)
VERDICT_KEYS = ("verdict_baselines", "verdict_defaults")


@dataclass(frozen=True)
class RunMember:
    """One member of an ensemble run file: a configuration, the seed it trains with and its epochs."""

    name: str
    train: TrainConfig
    trial: int | None = None
    seed: int | None = None
    epochs: int | None = None  # the final refit's epochs (that trial's best epoch); else train.epochs


@dataclass(frozen=True)
class RunConfig:
    data: DataSpec
    train: TrainConfig
    result: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    members: tuple[RunMember, ...] = ()  # an ensemble's members (empty for a single model)

    @property
    def best_epoch(self) -> int | None:
        """[result].best_epoch (checked when the file was read)."""
        value = self.result.get("best_epoch")
        return value if isinstance(value, int) else None

    @property
    def refit_epochs(self) -> int | None:
        """[result].refit_epochs: the epochs `fit --final` trains, as the study's ``refit_epochs`` rule chose
        them at export (checked when the file was read); files exported before it have best_epoch only."""
        value = self.result.get("refit_epochs")
        return value if isinstance(value, int) else None

    @property
    def verdicts(self) -> dict[str, str]:
        """The verdict lines [result] carries (checked to be strings when the file was read)."""
        return {k: self.result[k] for k in VERDICT_KEYS if k in self.result}


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist; pass the path of a TOML file (see studies/).")
    try:
        return tomllib.loads(toml_text(path))  # a BOM or UTF-16 from Notepad is fine
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path} is not valid TOML: {e}.") from None


def parse_data(table: Mapping[str, Any] | None, where: str) -> DataSpec:
    table = dict(table or {})
    source = table.pop("source", None)
    if not isinstance(source, str) or not source:
        raise InputError(
            f"source must be a non-empty string ('sample', a path, or 'synthetic:tickers=N,days=D,seed=S'), "
            f"but got source={source!r} ({where})."
        )
    return DataSpec(source=source, prep=PrepConfig.from_mapping(table, where))


def data_spec_of(config: str | Path | None, source: str | None) -> DataSpec:
    """The [data] of a study or run file, with ``source`` (the CLI's --data) overriding its source;
    a bare ``source`` gets the default prep settings."""
    if config is None:
        if not source:
            raise InputError("give --data SOURCE (e.g. --data sample) or --config studies/X.toml with a [data] table.")
        return DataSpec(source=source, prep=PrepConfig())
    table = dict(read_toml(config).get("data") or {})
    if not table and not source:
        raise InputError(f"{config} has no [data] table; add one (source = \"sample\") or pass --data.")
    if source:
        table["source"] = source
    return parse_data(table, f"{config}, [data]")


def load_run_config(path: str | Path, train_overrides: Mapping[str, Any] | None = None,
                    data_overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a run file; ``*_overrides`` (from the CLI) win over the file, which wins over defaults."""
    path = Path(path)
    doc = read_toml(path)
    allowed = {"data", "train", "result", "study", "members"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InputError(f"unknown table [{unknown[0]}] ({path}); a run file has [data], [train] and optionally [result].")
    if "data" not in doc:
        raise InputError(f"{path} has no [data] table; it needs at least `source = \"sample\"`.")
    data = parse_data({**doc["data"], **(data_overrides or {})}, f"{path}, [data]")
    result = _check_result(doc.get("result", {}), path)
    if "members" in doc:
        if "train" in doc:
            raise InputError(f"{path} has both [train] and [[members]]; an ensemble run file gives each member its own "
                             "[members.train] (write it with `stocktune export --ensemble`), a single model uses [train].")
        members = _parse_members(doc["members"], path, train_overrides)
        return RunConfig(data=data, train=members[0].train, result=result, path=path, members=members)
    train = TrainConfig.from_mapping({**doc.get("train", {}), **(train_overrides or {})}, f"{path}, [train]")
    return RunConfig(data=data, train=train, result=result, path=path)


def _positive_int(value: Any, key: str, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{key} must be a positive integer, but got {key}={value!r} ({where}).")
    return value


def _check_result(table: Any, path: Path) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise InputError(f"[result] must be a table ({path}).")
    _positive_int(table.get("best_epoch"), "best_epoch", f"{path}, [result]")
    _positive_int(table.get("refit_epochs"), "refit_epochs", f"{path}, [result]")
    for key in VERDICT_KEYS:
        if key in table and not isinstance(table[key], str):
            raise InputError(f"{key} must be a one-line string, but got {key}={table[key]!r} ({path}, [result]); "
                             "export the run file again with `stocktune export`.")
    return dict(table)


def _parse_members(tables: Any, path: Path, train_overrides: Mapping[str, Any] | None) -> tuple[RunMember, ...]:
    if not isinstance(tables, list) or not tables or not all(isinstance(t, Mapping) for t in tables):
        raise InputError(f"[[members]] of {path} must be a non-empty array of tables (one per member).")
    members = []
    for i, t in enumerate(tables):
        where = f"{path}, [[members]] #{i + 1}"
        t = dict(t)
        name = t.pop("name", None)
        if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"name must be a non-empty name of letters, digits, '-' and '_', but got name={name!r} "
                             f"({where}).")
        train = TrainConfig.from_mapping({**t.pop("train", {}), **(train_overrides or {})}, f"{where} ({name}), train")
        trial, seed = t.pop("trial", None), t.pop("seed", None)
        for key, value in (("trial", trial), ("seed", seed)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise InputError(f"{key} must be a non-negative integer, but got {key}={value!r} ({where}).")
        epochs = _positive_int(t.pop("epochs", None), "epochs", where)
        if t:
            raise InputError(f"unknown key {sorted(t)[0]!r} ({where}); a member has name, trial, seed, epochs and "
                             "[members.train].")
        if seed is not None and train.seed != seed:
            train = dataclasses.replace(train, seed=seed)
        members.append(RunMember(name, train, trial, seed, epochs))
    names = [m.name for m in members]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"member name {dup[0]!r} appears more than once in {path}; each member needs its own name.")
    return tuple(members)


def write_toml_atomic(doc: Mapping[str, Any], path: str | Path, header: str = "") -> Path:
    """Write TOML through a temp file + rename so a reader never sees half a file; ``header`` lines
    become comments at the top."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return write_text_atomic(path, comments + ("\n" if comments else "") + tomli_w.dumps(_drop_none(doc)))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    return obj
