"""Open optuna-dashboard on a study's storage and artifact store.

Runs the real optuna-dashboard web app on the study file's storage, with the study's artifact store
so that the dataset report images and the best checkpoint can be viewed and downloaded. The study
note, trial notes and learning curves are written by the workers.

It binds to 127.0.0.1 by default. The dashboard has no authentication and can edit notes, so any
other --host prints a warning: put it behind an SSH tunnel or an authenticating proxy.

examples:
  stocktune dashboard studies/sample.toml
  stocktune dashboard studies/sample.toml --port 8081 --storage 'postgresql+psycopg://u:${PGPASSWORD}@db/stocktune'
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (studies/*.toml)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else exposes an unauthenticated app)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 = any free port)")
    p.add_argument("--storage", default=None,
                   help="storage URL overriding the study file's (${ENV} is expanded, e.g. '${STOCKTUNE_STORAGE}')")


def run(args: argparse.Namespace) -> int:
    from tuner.dashboard import LOCAL_HOSTS, serve_dashboard
    from tuner.study_config import load_study_config

    cfg = load_study_config(args.study, storage=args.storage)
    if args.host not in LOCAL_HOSTS:
        print(f"stocktune dashboard: WARNING: binding to {args.host}: optuna-dashboard has no authentication "
              "and anyone who can reach this port can read the study, edit its notes and delete its trials and "
              "artifacts. Use an SSH tunnel or an authenticating reverse proxy.", file=sys.stderr, flush=True)

    def listening(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(f"stocktune dashboard: study {cfg.name!r} on {cfg.storage_masked}, artifacts in {cfg.artifacts}",
              flush=True)
        print(f"Listening on http://{shown}:{port}/dashboard/ (Ctrl+C to stop)", flush=True)

    serve_dashboard(cfg, args.host, args.port, listening)
    return 0
