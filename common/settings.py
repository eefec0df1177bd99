"""Typed, frozen settings built from TOML tables, shared by every layer's config dataclass.

One function turns a mapping into a dataclass so that every config (prep, training, study) rejects
unknown keys and wrong types with the same kind of message, naming the key and the file/table.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import InputError

T = TypeVar("T")

__all__ = ["from_mapping", "to_mapping", "check", "coerce", "toml_text"]


def coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """Return (ok, coerced value). Ints are accepted for floats; lists for tuples."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = coerce(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if origin is typing.Literal:
        return value in typing.get_args(tp), value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        out = []
        for item in value:
            ok, v = coerce(item, inner)
            if not ok:
                return False, value
            out.append(v)
        return True, tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    if tp is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp) if isinstance(tp, type) else True, value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``; ``where`` names the source, e.g. "studies/x.toml, [train]".

    Unknown keys and wrong types raise InputError naming the key; the dataclass's own
    ``__post_init__`` then checks ranges.
    """
    mapping = dict(mapping or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r} ({where}); allowed keys are: {', '.join(sorted(fields))}."
        )
    kwargs = {}
    for key, value in mapping.items():
        ok, coerced = coerce(value, hints[key])
        if not ok:
            raise InputError(
                f"{key} must be of type {_type_name(hints[key])}, but got {key}={value!r} ({where})."
            )
        kwargs[key] = coerced
    try:
        return cls(**kwargs)
    except InputError as e:
        raise InputError(f"{str(e).rstrip('.')} ({where}).") from None


def toml_text(path: Path) -> str:
    """The text of TOML file ``path``, as an editor shows it: a UTF-8 byte-order mark (Windows Notepad
    writes one) is dropped and UTF-16 is decoded, since tomllib rejects both with "Invalid statement
    (at line 1, column 1)"; bytes that are not UTF-8 are an InputError naming the line."""
    data = Path(path).read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16").lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: the byte {data[e.start:e.start + 1].hex()} is not UTF-8 text; save the "
                         f"file as UTF-8.") from None


def to_mapping(obj: Any) -> dict[str, Any]:
    """A TOML/JSON-friendly dict of a settings dataclass (tuples become lists, None is dropped)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None:
            continue
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def check(cond: bool, message: str) -> None:
    """Raise InputError(message) unless cond; for ``__post_init__`` range checks."""
    if not cond:
        raise InputError(message)
