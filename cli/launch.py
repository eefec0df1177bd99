"""Start N local workers on one study, with one aggregated progress bar.

Each worker is a `stocktune worker` process with its own log in logs/ next to the artifacts dir. With CUDA,
workers get GPUs round-robin (--workers-per-gpu K share one); without, the cores are split
(--threads per worker = cores // N). Ctrl-C/SIGTERM is forwarded to the workers, which finish their
epoch, re-queue their trial and exit (a second one: at once); launch then exits 130 / 143 and says
the command that resumes. Exits 1 if a worker crashed.

example: stocktune launch studies/sample.toml --workers 2
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.numbers import count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY.toml", help="the study file (see studies/)")
    add_worker_options(p)


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """The flags `launch` and `tune` share: how many local workers and what each one overrides."""
    from tuner.study_config import WorkerConfig

    d = WorkerConfig()
    p.add_argument("--workers", type=count, default=None, metavar="N",
                   help=f"local worker processes (default: [worker] n_workers of the study, else {d.n_workers})")
    p.add_argument("--workers-per-gpu", type=count, default=None, metavar="K",
                   help=f"workers sharing one GPU (default: [worker] workers_per_gpu, else {d.workers_per_gpu})")
    p.add_argument("--n-trials", type=count, default=None, metavar="N", help="override the global budget")
    p.add_argument("--storage", default=None, metavar="URL", help="override the study's storage URL")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="per-worker timeout in seconds")
    p.add_argument("--threads", type=count, default=None, metavar="T", help="CPU threads per worker")


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
    from tuner.preflight import preflight
    from tuner.study_config import load_study_config

    cfg = load_study_config(args.study, storage=args.storage, n_trials=args.n_trials, timeout=args.timeout)
    n = args.workers if args.workers is not None else cfg.worker.n_workers
    k = args.workers_per_gpu if args.workers_per_gpu is not None else cfg.worker.workers_per_gpu
    # flags are counts >= 1 (cli/numbers.py); the study's own values are checked by WorkerConfig
    preflight(cfg, launching=True)  # storage and device, before any data is prepared
    return cfg, n, k, args.threads or cfg.worker.threads_per_worker


def run(args: argparse.Namespace) -> int:
    from cli.stopping import finish
    from tuner.launcher import launch
    from tuner.signals import StopFlag

    cfg, n, k, threads = resolve(args)
    stop = StopFlag().install()
    rc = launch(cfg, Path(args.study), n, workers_per_gpu=k, threads=threads, extra_args=worker_args(args),
                verbose=getattr(args, "verbose", False), storage=args.storage, stop=stop)
    return finish(stop, cfg, args, "launch", "search") if stop else rc
