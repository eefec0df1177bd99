"""Storage URLs: which ones stocktune accepts, and how to show one without its password."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from common.errors import InputError

__all__ = ["mask_url", "validate_storage_url", "sqlite_path"]


def mask_url(url: str) -> str:
    """postgresql+psycopg://user:secret@host/db -> postgresql+psycopg://user:***@host/db."""
    try:
        u = make_url(url)
    except Exception:
        # unparseable: hide anything between '://' and '@' rather than risk printing a password
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return url
    if u.password is None:
        return u.render_as_string(hide_password=False)
    return u.render_as_string(hide_password=True)


def validate_storage_url(url: str, where: str) -> str:
    """Accept sqlite:///PATH and postgresql[+psycopg]://...; return the URL to use (psycopg 3 driver)."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise InputError(f"storage must be a URL like sqlite:///runs/NAME/study.db or "
                         f"postgresql+psycopg://user:pass@host:5432/db, but got storage={mask_url(url)!r} ({where}).") from None
    if u.get_backend_name() == "sqlite":
        if u.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise InputError(f"storage uses the unsupported SQLite driver {u.drivername!r}; write sqlite:///PATH ({where}).")
        if not u.database or u.database == ":memory:":
            raise InputError(f"storage must name a SQLite file that every worker can open (sqlite:///runs/NAME/study.db), "
                             f"but got storage={mask_url(url)!r} ({where}).")
        return url
    if u.get_backend_name() == "postgresql":
        if u.drivername not in ("postgresql", "postgresql+psycopg"):
            raise InputError(f"storage uses the PostgreSQL driver {u.drivername!r}, which is not installed; "
                             f"write postgresql+psycopg://... ({where}).")
        if not u.host or not u.database:
            raise InputError(f"storage must name a host and a database (postgresql+psycopg://user:pass@host:5432/db), "
                             f"but got storage={mask_url(url)!r} ({where}).")
        if u.port is not None and not (0 < u.port < 65536):
            raise InputError(f"storage port must be 1-65535, but got {u.port} ({where}).")
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise InputError(f"storage scheme {u.drivername!r} is not supported, but got storage={mask_url(url)!r}; use "
                     f"sqlite:///PATH or postgresql+psycopg://user:pass@host:5432/db ({where}).")


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None
