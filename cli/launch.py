"""Start N local workers on one study, with one aggregated progress bar.

Each worker is a `stocktune worker` process with its own log in logs/ next to the artifacts dir. With CUDA,
workers get GPUs round-robin (--workers-per-gpu K share one); without, the cores are split
(--threads per worker = cores // N). Ctrl-C/SIGTERM is forwarded to the workers, which finish their
epoch, re-queue their trial and exit. Exits non-zero if a worker crashed.

example: stocktune launch studies/sample.toml --workers 2
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    add_worker_options(p)


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """The flags `launch` and `tune` share: how many local workers and what each one overrides."""
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: [worker] n_workers of the study, else 2)")
    p.add_argument("--workers-per-gpu", type=int, default=None, metavar="K", help="workers sharing one GPU")
    p.add_argument("--n-trials", type=int, default=None, metavar="N", help="override the global budget")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="per-worker timeout in seconds")
    p.add_argument("--threads", type=int, default=None, metavar="T", help="CPU threads per worker")


def worker_args(args: argparse.Namespace) -> list[str]:
    """The overrides every worker must see (the study file is re-read by each worker).

    --storage travels in the environment ($STOCKTUNE_WORKER_STORAGE), not on the command line,
    where `ps` would show its password.
    """
    out: list[str] = []
    if args.n_trials is not None:
        out += ["--n-trials", str(args.n_trials)]
    if args.timeout is not None:
        out += ["--timeout", str(args.timeout)]
    return out


def resolve(args: argparse.Namespace):
    from common.errors import InputError
    from tuner.preflight import preflight
    from tuner.study_config import load_study_config

    cfg = load_study_config(args.study, storage=args.storage, n_trials=args.n_trials, timeout=args.timeout)
    n = args.workers if args.workers is not None else cfg.worker.n_workers
    k = args.workers_per_gpu if args.workers_per_gpu is not None else cfg.worker.workers_per_gpu
    for flag, v in (("--workers", n), ("--workers-per-gpu", k), ("--threads", args.threads)):
        if v is not None and v < 1:
            raise InputError(f"{flag} must be >= 1, but got {flag} {v}.")
    preflight(cfg, launching=True)  # storage and device, before any data is prepared
    return cfg, n, k, args.threads or cfg.worker.threads_per_worker


def run(args: argparse.Namespace) -> int:
    from tuner.launcher import launch

    cfg, n, k, threads = resolve(args)
    return launch(cfg, Path(args.study), n, workers_per_gpu=k, threads=threads, extra_args=worker_args(args),
                  verbose=getattr(args, "verbose", False), storage=args.storage)
