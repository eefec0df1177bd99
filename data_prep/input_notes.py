"""The summary lines for what prep decided or left out while reading a source (``RawInput.notes``).

Three kinds of note: a file column whose day/month order was decided from its values
(``{"file", "date_format", "decided_by"}``), a folder entry that is not read (``{"entry", "reason"}``)
and a data file whose name is not valid UTF-8, read as the ticker of its escaped name
(``{"name", "ticker"}``). Both are said in the summary, so no decision about the input is silent.
"""
from __future__ import annotations

__all__ = ["notes_lines"]


def _files(k: int) -> str:
    return f"{k:,} file{'s' if k != 1 else ''}"


def notes_lines(notes: list[dict]) -> list[str]:
    """'dates: DD/MM/YYYY in 3 files (day first: '13/01/2010' at a.csv, line 10)', 'not read: ...'."""
    lines = []
    by_format: dict[str, list[dict]] = {}
    for n in notes:
        if "date_format" in n:
            by_format.setdefault(n["date_format"], []).append(n)
    if by_format:
        parts = [f"{fmt} in {_files(len(ns))} ({ns[0]['decided_by']}, {ns[0]['file']})" for fmt, ns in by_format.items()]
        lines.append("dates: " + "; ".join(parts))
    names = [n for n in notes if "name" in n]
    if names:
        lines.append(f"file names not valid UTF-8: {len(names)}, shown with escaped bytes ("
                     + ", ".join(f"{n['name']} -> ticker '{n['ticker']}'" for n in names[:3])
                     + (f", {len(names) - 3} more" if len(names) > 3 else "") + ")")
    entries = [n for n in notes if "entry" in n]
    if entries:
        shown = "; ".join(f"{n['entry']}: {n['reason']}" for n in entries[:3])
        more = f"; {len(entries) - 3} more" if len(entries) > 3 else ""
        lines.append(f"not read: {len(entries)} folder entr{'ies' if len(entries) != 1 else 'y'} ({shown}{more}) "
                     f"(see report.md)")
    return lines
