"""The search space: which TrainConfig fields a trial samples, and from what range.

A study's [search] table overrides or fixes the default dimensions below; a name that the study's
[train] table sets (and [search] does not) is fixed rather than searched, so a tiny test study can
pin `hidden_dim = 8` without a [search] entry. Every dimension is checked at both ends against
TrainConfig's own validation, so a range that could produce an impossible config fails before any
worker starts, not in trial 17.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from common.errors import InputError
from common.settings import coerce  # the same type rules as every other config table
from model.config import TrainConfig

__all__ = ["FloatRange", "IntRange", "Choice", "Fixed", "Dimension", "DEFAULT_SPACE", "parse_search",
           "suggest", "default_params"]


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    default: float | None = None  # `default =`: the value of the defaults trial (None: [train] / TrainConfig's)

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False
    step: int = 1
    default: int | None = None

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Choice:
    choices: tuple[Any, ...]
    default: Any = None

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def extremes(self) -> list[Any]:
        return list(self.choices)

    def to_mapping(self) -> dict[str, Any]:
        return {"choices": list(self.choices), **({} if self.default is None else {"default": self.default})}


@dataclass(frozen=True)
class Fixed:
    """A bare value in [search]: not sampled, not shown as an Optuna param."""

    value: Any

    def extremes(self) -> list[Any]:
        return [self.value]

    def to_mapping(self) -> Any:
        return self.value


Dimension = FloatRange | IntRange | Choice | Fixed

# Param names are exactly the TrainConfig field names: the dashboard, export and `fit` all use them.
DEFAULT_SPACE: dict[str, Dimension] = {
    "learning_rate": FloatRange(1e-5, 1e-2, log=True),
    "num_layers": IntRange(1, 4),
    "hidden_dim": IntRange(16, 512, log=True),
    "warmup_ratio": FloatRange(0.0, 0.2),
    "cell": Choice(("gru", "lstm")),
    "dropout": FloatRange(0.0, 0.5),
    "batch_size": Choice((128, 256, 512)),
    "weight_decay": FloatRange(1e-6, 1e-2, log=True),
}

_RANGE_KEYS = {"low", "high", "log", "step"}
# budget and runtime settings may be fixed in [search] (a bare value) but never sampled
_NOT_SEARCHABLE = ("epochs", "train_splits", "eval_split", "device", "threads", "seed")


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig) if f.init}


def _base_type(tp: Any) -> Any:
    """int | None -> int; tuple[...] stays as is."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _parse_one(name: str, spec: Any, tp: Any, where: str) -> Dimension:
    """One [search] entry; its ``default =`` (if any) is checked against the range or choices."""
    if isinstance(spec, Mapping) and "default" in spec:
        dim = _parse_dim(name, {k: v for k, v in spec.items() if k != "default"}, tp, where)
        ok, value = coerce(spec["default"], tp)
        if isinstance(dim, FloatRange) and ok and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not ok or not _contains(dim, value):
            raise InputError(f"{name}.default must lie in {_describe(dim)}, but got default={spec['default']!r} "
                             f"({where}).")
        return dataclasses.replace(dim, default=value)
    return _parse_dim(name, spec, tp, where)


def _contains(dim: Dimension, value: Any) -> bool:
    """Whether ``value`` is one the dimension can sample (in range, on its step grid, or a choice)."""
    if isinstance(dim, Choice):
        return any(type(value) is type(c) and value == c for c in dim.choices)
    if isinstance(dim, Fixed):
        return value == dim.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dim, IntRange) and not isinstance(value, int):
        return False
    if not dim.low <= value <= dim.high:
        return False
    if dim.step is None:
        return True
    k = (value - dim.low) / dim.step
    return abs(k - round(k)) < 1e-9


def _describe(dim: Dimension) -> str:
    if isinstance(dim, Choice):
        return f"choices = {list(dim.choices)}"
    if isinstance(dim, Fixed):
        return f"the fixed value {dim.value!r}"
    step = "" if dim.step in (None, 1) else f" on steps of {dim.step}"
    return f"[low, high] = [{dim.low}, {dim.high}]{step}"


def _parse_dim(name: str, spec: Any, tp: Any, where: str) -> Dimension:
    base = _base_type(tp)
    if not isinstance(spec, Mapping):
        ok, value = coerce(spec, tp)
        if not ok:
            raise InputError(f"{name} must be a {getattr(base, '__name__', base)} value or a table like "
                             f"{{ low = ..., high = ... }} or {{ choices = [...] }}, but got {name}={spec!r} ({where}).")
        return Fixed(value)
    keys = set(spec)
    if "choices" in keys:
        if keys != {"choices"}:
            raise InputError(f"{name} has both choices and {sorted(keys - {'choices'})[0]}; give either "
                             f"{{ choices = [...] }} or {{ low = ..., high = ... }} ({where}).")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise InputError(f"{name}.choices must be a non-empty list, but got choices={choices!r} ({where}).")
        out = []
        for c in choices:
            ok, value = coerce(c, tp)
            if not ok or isinstance(value, (list, dict)):
                raise InputError(f"{name}.choices must hold {getattr(base, '__name__', base)} values, but got "
                                 f"{c!r} ({where}).")
            out.append(value)
        if len(set(map(repr, out))) != len(out):
            raise InputError(f"{name}.choices must not repeat a value, but got choices={choices!r} ({where}).")
        return Choice(tuple(out))
    unknown = sorted(keys - _RANGE_KEYS)
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r} in {name} ({where}); a range has low, high, log, step "
                         "(and an optional default); a categorical has choices (and an optional default).")
    if "low" not in spec or "high" not in spec:
        raise InputError(f"{name} needs both low and high, but got {spec!r} ({where}).")
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    if not isinstance(log, bool):
        raise InputError(f"{name}.log must be true or false, but got log={log!r} ({where}).")
    if base is int:
        for key in ("low", "high", "step"):
            v = spec.get(key, 1)
            if not isinstance(v, int) or isinstance(v, bool):
                raise InputError(f"{name}.{key} must be an integer ({name} is an integer setting), but got "
                                 f"{key}={v!r} ({where}).")
        step = spec.get("step", 1)
    elif base is float:
        for key in ("low", "high", "step"):
            v = spec.get(key, 0.0)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise InputError(f"{name}.{key} must be a finite number, but got {key}={v!r} ({where}).")
        low, high = float(low), float(high)
        step = None if spec.get("step") is None else float(spec["step"])
    else:
        raise InputError(f"{name} is not numeric, so it takes {{ choices = [...] }} or a bare value, not a range "
                         f"({where}).")
    if not low < high:
        raise InputError(f"{name} must have low < high, but got low={low}, high={high} ({where}).")
    if log and low <= 0:
        raise InputError(f"{name} has log = true, so low must be > 0, but got low={low} ({where}).")
    if step is not None and step <= 0:
        raise InputError(f"{name}.step must be > 0, but got step={step} ({where}).")
    if log and step not in (None, 1):
        raise InputError(f"{name} cannot combine log = true with step = {step} ({where}).")
    if base is int:
        return IntRange(int(low), int(high), log=log, step=int(step))
    return FloatRange(low, high, log=log, step=step)


def parse_search(table: Mapping[str, Any] | None, train_fixed: Mapping[str, Any], where: str) -> dict[str, Dimension]:
    """[search] + the study's fixed [train] -> the full space (defaults included), validated.

    ``where`` names the file and table, e.g. "studies/sample.toml, [search]".
    """
    table = dict(table or {})
    types_ = _field_types()
    space: dict[str, Dimension] = {k: v for k, v in DEFAULT_SPACE.items() if k not in train_fixed}
    for name, spec in table.items():
        if name not in types_:
            raise InputError(f"{name!r} is not a training setting, so it cannot be searched ({where}); "
                             f"searchable names are the [train] keys: {', '.join(sorted(types_))}.")
        if name in _NOT_SEARCHABLE and isinstance(spec, Mapping):
            raise InputError(f"{name} is a budget/runtime setting; fix it in [train] instead of searching it ({where}).")
        space[name] = _parse_one(name, spec, types_[name], where)
    _check_extremes(space, train_fixed, where)
    default_params(space, train_fixed, where)  # the defaults trial must be a config the space can sample
    return space


def default_params(space: Mapping[str, Dimension], train_fixed: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The params of the defaults trial: per searched name its ``default =``, else the [train] value, else
    TrainConfig's default (what a user who does not tune would train). InputError naming the key and
    the table when that value is not one the dimension can sample."""
    field_defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.init}
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, Fixed):
            continue
        if dim.default is not None:
            out[name] = dim.default
            continue
        source = "its [train] value" if name in train_fixed else "TrainConfig's default"
        ok, value = coerce(train_fixed.get(name, field_defaults[name]), _field_types()[name])
        if isinstance(dim, FloatRange) and ok and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not ok or not _contains(dim, value):
            raise InputError(f"{name} has no default in [search], and {source} {value!r} is not in "
                             f"{_describe(dim)} ({where}); the defaults trial (trial 0) runs it, so add "
                             f"`default = ...` inside {name}'s table, e.g. {name} = {{ ..., default = "
                             f"{_example(dim)!r} }}.")
        out[name] = value
    return out


def _example(dim: Dimension) -> Any:
    return dim.choices[0] if isinstance(dim, Choice) else dim.low


def _check_extremes(space: Mapping[str, Dimension], train_fixed: Mapping[str, Any], where: str) -> None:
    """Every end of every dimension, on top of the fixed values, must make a valid TrainConfig."""
    base = dict(train_fixed)
    for name, dim in space.items():
        if isinstance(dim, Fixed):
            base[name] = dim.value
    for name, dim in space.items():
        for value in dim.extremes():
            try:
                TrainConfig(**{**base, name: value})
            except InputError as e:
                raise InputError(f"{name} = {value!r} is outside what training accepts: {str(e).rstrip('.')} "
                                 f"({where}).") from None


def suggest(trial: optuna.Trial, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """Sample one value per searched dimension; fixed ones are returned as is."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        out[name] = dim.value if isinstance(dim, Fixed) else dim.suggest(trial, name)
    return out
