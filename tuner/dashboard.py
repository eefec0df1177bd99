"""optuna-dashboard on a study's storage and artifact store, served by a threaded WSGI server.

The workers write the study's notes and artifacts (tuner/story.py); this serves the real
optuna-dashboard app over them. No heartbeat: the dashboard never runs trials and must not count as
a live worker. Opening it on a live SQLite study is safe: the storage runs in WAL mode with a busy
timeout, so the dashboard's reads never make a worker's write fail.
"""
from __future__ import annotations

import signal
import socketserver
import threading
from collections.abc import Callable
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from common.errors import InputError

from .storage import artifact_store, open_storage
from .study_config import StudyConfig

__all__ = ["serve_dashboard", "LOCAL_HOSTS"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow API call does not stall the page's other requests."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (the page polls every few seconds); errors still show."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith(("4", "5")) and str(code) != "404":
            super().log_request(code, size)


def serve_dashboard(cfg: StudyConfig, host: str, port: int, on_listening: Callable[[str, int], None]) -> None:
    """Serve until SIGTERM or Ctrl-C; ``on_listening(host, port)`` once the socket is bound."""
    from optuna_dashboard import wsgi

    if not 0 <= port < 65536:
        raise InputError(f"--port must be 0-65535, but got --port={port}.")
    storage = open_storage(cfg.storage, heartbeat_interval=None, grace_period=None)
    app = wsgi(storage, artifact_store=artifact_store(cfg))
    try:
        server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror}); pick another --port.") from None

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    bound_host, bound_port = server.server_address[:2]
    on_listening(str(bound_host), int(bound_port))
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        storage.engine.dispose()
