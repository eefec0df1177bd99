"""One small market written the ways real vendors write it, for the input tests.

``bars()`` is the market as a long DataFrame; the writers turn it into a directory of per-ticker
files or one long file with a chosen delimiter, decimal mark, UTC offset and header, so that a test
can check that each variant gives exactly the dataset the plain variant gives.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CODES = ("000660", "005930", "035720")  # KRX codes: the leading zeros must survive
COLUMNS = ["Date", "Open", "High", "Low", "Close", "Volume"]


def bars(days: int = 300, seed: int = 0, decimals: int = 2, level: float = 50.0) -> pd.DataFrame:
    """Daily bars of CODES on business days from 2010-01-04: prices rounded to ``decimals``, volumes
    between 0.2M and 5M (so that written with thousands separators some have two groups)."""
    rng = np.random.default_rng(seed)
    cal = pd.bdate_range("2010-01-04", periods=days)
    out = []
    for k, code in enumerate(CODES):
        c = level * (1 + k) * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
        o = c * np.exp(rng.normal(0, 0.005, days))
        h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.01, days)))
        lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.01, days)))
        r = lambda x: np.round(x, decimals)  # noqa: E731
        out.append(pd.DataFrame({"Ticker": code, "Date": cal, "Open": r(o), "High": r(np.maximum(h, np.maximum(o, c))),
                                 "Low": r(np.minimum(lo, np.minimum(o, c))), "Close": r(c),
                                 "Volume": rng.integers(200_000, 5_000_000, days)}))
    df = pd.concat(out, ignore_index=True)
    # rounding may push high below open/close by a cent: keep every bar valid
    df["High"] = df[["Open", "High", "Close"]].max(axis=1)
    df["Low"] = df[["Open", "Low", "Close"]].min(axis=1)
    return df


def text(df: pd.DataFrame, delimiter: str = ",", decimal: str = ".", offset: str | None = None,
         thousands: bool = False, ticker: bool = True, sep_line: bool = False, decimals: int = 2,
         volume: bool = True) -> str:
    """``df`` as CSV text: ``offset`` '+09:00' writes midnight timestamps with that UTC offset,
    ``thousands`` writes quoted volumes with ',' separators, ``sep_line`` the Excel 'sep=' line,
    ``volume=False`` no volume column (as for an index)."""
    cols = (["Ticker"] if ticker else []) + COLUMNS[:5 + volume]
    lines = (["sep=" + delimiter] if sep_line else []) + [delimiter.join(cols)]
    dates = df["Date"].dt.strftime("%Y-%m-%d")
    if offset is not None:
        dates = dates + "T00:00:00" + offset

    def num(x: float) -> str:
        s = f"{x:.{decimals}f}"
        return s.replace(".", decimal)

    for i in range(len(df)):
        row = df.iloc[i]
        vol = f'"{int(row.Volume):,}"' if thousands else str(int(row.Volume))
        fields = ([row.Ticker] if ticker else []) + [dates.iloc[i]] + [num(row[c]) for c in COLUMNS[1:5]] + [vol][:volume]
        lines.append(delimiter.join(fields))
    return "\n".join(lines) + "\n"


def write_dir(df: pd.DataFrame, root: Path, fmt: str = "csv", **kw) -> Path:
    """One file per ticker (no ticker column) under ``root``; ``kw`` go to ``text`` (CSV only)."""
    root.mkdir(parents=True, exist_ok=True)
    for code, g in df.groupby("Ticker"):
        if fmt == "csv":
            (root / f"{code}.csv").write_text(text(g.reset_index(drop=True), ticker=False, **kw))
        else:
            g.drop(columns="Ticker").to_parquet(root / f"{code}.parquet", index=False)
    return root
