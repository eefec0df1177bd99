"""Open optuna-dashboard on a study's storage and artifact store.

Runs the real optuna-dashboard web app (its WSGI app on a threaded server) on the study file's
storage, with the study's artifact store so that the dataset report images and the best checkpoint
can be viewed and downloaded. The study note, trial notes and learning curves are written by the
workers (see tuner/story.py).

It binds to 127.0.0.1 by default. The dashboard has no authentication and can edit notes, so any
other --host prints a warning: put it behind an SSH tunnel or an authenticating proxy.

Opening it on a live SQLite study is safe: the storage runs in WAL mode with a busy timeout, so the
dashboard's reads never make a worker's write fail.

examples:
  stocktune dashboard studies/sample.toml
  stocktune dashboard studies/sample.toml --port 8081 --storage 'postgresql+psycopg://u:${PGPASSWORD}@db/stocktune'
"""
from __future__ import annotations

import argparse
import logging
import signal
import socketserver
import sys
import threading
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from common.errors import InputError

log = logging.getLogger("stocktune.dashboard")

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (studies/*.toml)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else exposes an unauthenticated app)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 = any free port)")
    p.add_argument("--storage", default=None,
                   help="storage URL overriding the study file's (${ENV} is expanded, e.g. '${STOCKTUNE_STORAGE}')")


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow API call does not stall the page's other requests."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (the page polls every few seconds); errors still show."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith(("4", "5")) and str(code) != "404":
            super().log_request(code, size)


def run(args: argparse.Namespace) -> int:
    from optuna_dashboard import wsgi

    from tuner.storage import artifact_store, open_storage
    from tuner.study_config import load_study_config

    if not 0 <= args.port < 65536:
        raise InputError(f"--port must be 0-65535, but got --port={args.port}.")
    cfg = load_study_config(args.study, storage=args.storage)
    if args.host not in LOCAL_HOSTS:
        print(f"stocktune dashboard: WARNING: binding to {args.host}: optuna-dashboard has no authentication "
              "and anyone who can reach this port can read the study, edit its notes and delete its trials and artifacts. Use an SSH tunnel "
              "or an authenticating reverse proxy.", file=sys.stderr, flush=True)

    # no heartbeat: the dashboard never runs trials, and must not count as a live worker
    storage = open_storage(cfg.storage, heartbeat_interval=None, grace_period=None)
    store = artifact_store(cfg)
    app = wsgi(storage, artifact_store=store)
    try:
        server = make_server(args.host, args.port, app, server_class=_ThreadingServer,
                             handler_class=_QuietHandler)
    except OSError as e:
        raise InputError(f"cannot listen on {args.host}:{args.port} ({e.strerror}); pick another --port.") from None

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    print(f"stocktune dashboard: study {cfg.name!r} on {cfg.storage_masked}, artifacts in {cfg.artifacts}",
          flush=True)
    print(f"Listening on http://{shown}:{port}/dashboard/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        storage.engine.dispose()
    return 0
