"""Looking a name up in a registry (cells, samplers, pruners): the one place that words an unknown name.

Each choice a config file makes by name is declared once, in a dict of name -> entry; validation,
construction and display all read that dict. An unknown name must fail the same way everywhere:
an InputError (exit 2) that lists the names that exist, in the registry's order.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .errors import InputError

__all__ = ["one_of"]

T = TypeVar("T")


def one_of(registry: Mapping[str, T], name: object, key: str) -> T:
    """``registry[name]``; otherwise InputError "``key`` must be one of [...], but got ``key``=...".

    The caller adds where (file and table): ``from_mapping`` appends it to errors raised in ``__post_init__``.
    """
    if isinstance(name, str) and name in registry:
        return registry[name]
    raise InputError(f"{key} must be one of {list(registry)}, but got {key}={name!r}.")
