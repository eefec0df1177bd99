"""The run file: [data] + [train] (+ [result] from an export), read by `fit` and written by `export`.

A study file shares the [data] and [train] tables with this format, so an exported best config is
accepted by `stocktune fit --config` unchanged. Precedence CLI > file > default is resolved here,
in one place.
"""
from __future__ import annotations

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

__all__ = ["DataSpec", "RunConfig", "read_toml", "parse_data", "data_spec_of", "load_run_config", "write_toml_atomic"]


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is prepared."""

    source: str
    prep: PrepConfig

    def to_mapping(self) -> dict[str, Any]:
        return {"source": self.source, **self.prep.to_mapping()}


@dataclass(frozen=True)
class RunConfig:
    data: DataSpec
    train: TrainConfig
    result: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


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
    allowed = {"data", "train", "result", "study"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InputError(f"unknown table [{unknown[0]}] ({path}); a run file has [data], [train] and optionally [result].")
    if "data" not in doc:
        raise InputError(f"{path} has no [data] table; it needs at least `source = \"sample\"`.")
    data = parse_data({**doc["data"], **(data_overrides or {})}, f"{path}, [data]")
    train = TrainConfig.from_mapping({**doc.get("train", {}), **(train_overrides or {})}, f"{path}, [train]")
    return RunConfig(data=data, train=train, result=dict(doc.get("result", {})), path=path)


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
