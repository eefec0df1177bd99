"""Which input column means what: the accepted names and the header checks shared by every reader.

Columns are matched case-insensitively, ignoring spaces, ``_``, ``-`` and ``.``. The header is read
as the file writes it (never through pandas, which renames a second ``Close`` to ``Close.1``), so
two columns that would both be used for one meaning are an error naming both, not a silent pick.
"""
from __future__ import annotations

import re

from common.errors import InputError

__all__ = ["COLUMN_ALIASES", "REQUIRED", "NUMERIC", "norm", "canonical", "map_columns", "missing_column"]

# canonical name -> accepted spellings after normalisation (lower case, no spaces/_/-/.)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker", "symbol", "code", "tickersymbol", "stockcode", "isucd", "shcode"),
    "date": ("date", "datetime", "timestamp", "tradedate", "tradingdate", "day"),
    "open": ("open", "openprice", "o"),
    "high": ("high", "highprice", "h"),
    "low": ("low", "lowprice", "l"),
    "close": ("close", "closeprice", "closingprice", "c"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adjclose", "adjustedclose", "adjclosingprice", "adjustedclosingprice"),
    "adj_factor": ("adjfactor", "adjustmentfactor", "adjustfactor"),
}
# volume is optional: indices, FX and many vendor files have none (see validate: "no volume information")
REQUIRED = ("date", "open", "high", "low", "close")
NUMERIC = ("open", "high", "low", "close", "volume", "adj_close", "adj_factor")
_ALIAS_TO_CANON = {alias: canon for canon, aliases in COLUMN_ALIASES.items() for alias in aliases}


def norm(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", str(name).strip().lower())


def canonical(name: str) -> str | None:
    """The meaning of a column name ('Adj Close' -> 'adj_close'), or None for a column prep ignores."""
    return _ALIAS_TO_CANON.get(norm(name))


def map_columns(columns: list[str], where: str) -> dict[str, int]:
    """canonical -> position of the column holding it; ``where`` names the header ('a.csv, line 1 (the header)').

    Two columns for one meaning are an error naming both: the same name twice ('Close', 'Close'), the
    same name in another case ('Close', 'close'), or two spellings ('Adj Close', 'adj_close').
    """
    found: dict[str, int] = {}
    for pos, col in enumerate(columns):
        canon = canonical(col)
        if canon is None:
            continue
        if canon in found:
            first = columns[found[canon]]
            if first.strip() == str(col).strip():
                how = "have the same name"
            elif first.strip().casefold() == str(col).strip().casefold():
                how = "have the same name apart from case"
            else:
                how = f"both mean {canon!r}"
            raise InputError(
                f"{where}: columns {first!r} (column {found[canon] + 1}) and {col!r} (column {pos + 1}) {how}, "
                f"so it is ambiguous which one holds the {canon}; delete or rename one of them.")
        found[canon] = pos
    return found


def missing_column(name: str, canon: str, columns: list[str], hint: str = "") -> InputError:
    aliases = ", ".join(COLUMN_ALIASES[canon][:4])
    return InputError(
        f"{name}: required column {canon!r} is missing (accepted names, any case: {aliases}); "
        f"the columns found are: {', '.join(map(str, columns)) or '(none)'}.{hint}")
