"""Start N local `stocktune worker` processes on one study and watch them with one progress bar.

Workers are separate processes (not threads) so that each has its own torch threads/GPU and a
crash or OOM takes down one worker, not the study. GPUs are handed out round-robin through
CUDA_VISIBLE_DEVICES; without a GPU the machine's cores are split between the workers. Each
worker's log goes to runs/<study>/logs/worker-<i>.log so the terminal shows only the aggregated
bar. Ctrl-C / SIGTERM is forwarded once to every worker (each finishes its epoch, re-queues its
trial and exits 143); a second one is forwarded again and stops them at once. A stopped launch
returns 128 + the signal's number (see signals.py), never 0, so no next phase starts after it.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from common import env
from common.cpus import available_cores

from .retry import with_retries
from .signals import STOP_EXIT_CODES, STOP_SIGNALS, StopFlag, exit_code_of
from .study import load_or_create_study
from .study_config import StudyConfig
from .trials import INTERRUPTED, best_value, count_words, finished_for_budget, state_counts

__all__ = ["launch", "plan_workers", "WorkerPlan"]

log = logging.getLogger("stocktune.launch")

SECOND_SIGNAL_GRACE = 10.0  # seconds the workers get to re-queue their trials after a second signal


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    threads: int
    cuda_visible_devices: str | None  # None: leave the environment as it is (CPU)


def _gpu_count() -> int:
    if env.get("CUDA_VISIBLE_DEVICES") == "":
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def plan_workers(n_workers: int, workers_per_gpu: int = 1, threads: int | None = None,
                 n_gpus: int | None = None, cores: int | None = None) -> list[WorkerPlan]:
    """Which GPU and how many CPU threads each worker gets."""
    n_gpus = _gpu_count() if n_gpus is None else n_gpus
    cores = cores or available_cores()
    per = threads or max(1, cores // n_workers)
    plans = []
    for i in range(n_workers):
        gpu = None
        if n_gpus > 0:
            gpu = str((i // workers_per_gpu) % n_gpus)
        plans.append(WorkerPlan(i, per, gpu))
    if n_gpus and n_workers > n_gpus * workers_per_gpu:
        log.warning("%d workers on %d GPU(s) with %d per GPU: some GPUs get more workers than asked",
                    n_workers, n_gpus, workers_per_gpu)
    return plans


def _progress_counts(study: optuna.Study, direction: str, final: bool = False) -> tuple[int, str, float | None]:
    """Trials finished for the budget, the bar's counts in the user's words, the best value."""
    trials = study.get_trials(deepcopy=False)
    counts = state_counts(trials)
    keys = ("RUNNING",) * (not final) + (INTERRUPTED,) * bool(counts[INTERRUPTED]) + ("FAIL",)
    return finished_for_budget(counts), count_words(counts, keys, bar=True), best_value(trials, direction)


def _wait_for_exit(procs: list[tuple[WorkerPlan, subprocess.Popen, Path]], seconds: float) -> None:
    """Sleep up to ``seconds``, less once every worker has exited (a stopped launch ends without delay)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for _, p, _ in procs):
        time.sleep(0.1)


def launch(cfg: StudyConfig, study_path: Path, n_workers: int, workers_per_gpu: int = 1,
           threads: int | None = None, extra_args: list[str] | None = None, progress: bool = True,
           stagger_seconds: float | None = None, verbose: bool = False, storage: str | None = None,
           confirm: tuple[int, int] | None = None, stop: StopFlag | None = None) -> int:
    """Run ``n_workers`` worker processes to the end of the study; 0 when all exited cleanly, 1 when one
    crashed, 128 + the signal's number when stopped (``stop``: the command's installed flag; None: this
    call handles SIGINT/SIGTERM itself). A stopped launch starts no worker and returns at once.

    ``confirm=(top_k, seeds)``: run `stocktune confirm` processes on the study's confirmation runs instead
    (enqueued here first, so the workers find the queue complete)."""
    from tqdm import tqdm

    own = stop is None or not stop.installed  # a bare call (tests, scripts): handle the signals here
    stop = StopFlag() if stop is None else stop
    if stop:
        return stop.exit_code or exit_code_of(signal.SIGINT)
    subcommand, extra_args = "worker", list(extra_args or [])
    if confirm is not None:
        from .confirm import enqueue_confirmation

        cfg = enqueue_confirmation(cfg, *confirm)
        subcommand, extra_args = "confirm", ["--top-k", str(confirm[0]), "--seeds", str(confirm[1])]
    # create the study (and the SQLite schema) once here, so N workers do not race to create it
    study = load_or_create_study(cfg, with_heartbeat=False, defaults_arm=confirm is None)
    plans = plan_workers(n_workers, workers_per_gpu, threads)
    # this launcher's own index (a Kubernetes pod's, say) spreads its workers' sampler seeds apart
    base = int(env.get("STOCKTUNE_WORKER_INDEX") or 0) * n_workers
    log_dir = Path(cfg.artifacts).parent / "logs"  # next to the artifacts: runs/<study>/logs
    log_dir.mkdir(parents=True, exist_ok=True)
    stagger = cfg.worker.stagger_seconds if stagger_seconds is None else stagger_seconds

    procs: list[tuple[WorkerPlan, subprocess.Popen, Path]] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} if own else {}
    if own:
        stop.install()
    give_up_at: list[float] = []  # set by a second signal: when the launcher stops waiting
    told: set[int] = set()  # the workers a first signal reached

    def forward(signum: int, n: int) -> None:
        # the first stop becomes SIGTERM for every worker (finish the epoch, re-queue, exit); a second
        # one SIGINT (stop now: each re-queues its trial at once); the launcher waits for them
        when = "after their current epoch (send again to stop now)" if n == 1 else "now"
        print(f"\n{signal.Signals(signum).name}: asking {len(procs)} worker(s) to stop {when}...", file=sys.stderr)
        if n > 1 and not give_up_at:
            give_up_at.append(time.monotonic() + SECOND_SIGNAL_GRACE)
        for _, p, _ in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if n == 1 else signal.SIGINT)
                told.add(p.pid)

    bar = None
    stop.forward = forward
    try:
        for plan in plans:
            if stop:
                break
            extra = {"STOCKTUNE_WORKER_INDEX": str(base + plan.index)}  # sampler seed + index
            if storage is not None:
                extra["STOCKTUNE_WORKER_STORAGE"] = storage  # not in argv, where `ps` shows it
            if plan.cuda_visible_devices is not None:
                extra["CUDA_VISIBLE_DEVICES"] = plan.cuda_visible_devices
            child_env = env.child_environ(OMP_NUM_THREADS=str(plan.threads), MKL_NUM_THREADS=str(plan.threads),
                                          PYTHONUNBUFFERED="1", **extra)
            cmd = [sys.executable, "-m", "cli"] + (["-v"] if verbose else []) + [
                subcommand, str(study_path), "--threads", str(plan.threads)] + extra_args
            log_path = log_dir / f"{subcommand}-{base + plan.index}.log"
            with open(log_path, "ab") as fh:
                # own session: a terminal Ctrl-C reaches only this launcher, which forwards it once
                p = subprocess.Popen(cmd, env=child_env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append((plan, p, log_path))
            if stop and p.pid not in told:  # the signal came while it was starting
                p.send_signal(signal.SIGTERM)
                told.add(p.pid)
            where = f"GPU {plan.cuda_visible_devices}" if plan.cuda_visible_devices is not None else f"{plan.threads} CPU threads"
            print(f"worker {plan.index}: pid {p.pid}, {where}, log {log_path}", file=sys.stderr)
            if plan.index < len(plans) - 1 and stagger > 0:
                stop.wait(stagger)

        bar = tqdm(total=cfg.n_trials, desc=cfg.name, unit="trial", disable=not progress, file=sys.stderr,
                   dynamic_ncols=True)
        # in a log file (no terminal) redraw only when the counts change, not every poll
        redraw_always = sys.stderr.isatty()
        last = None
        while any(p.poll() is None for _, p, _ in procs):
            if give_up_at and time.monotonic() > give_up_at[0]:
                break  # a second signal: stop now; the finally below ends the workers still there
            try:
                counts = with_retries(lambda: _progress_counts(study, cfg.direction), "polling progress", max_wait=5)
                if redraw_always or counts != last:
                    done, words, best = last = counts
                    bar.n = min(done, cfg.n_trials)
                    bar.set_postfix_str(f"{words} best={'-' if best is None else f'{best:.5g}'}", refresh=False)
                    bar.refresh()
            except Exception:  # noqa: BLE001 - the bar is cosmetic; the workers go on
                pass
            _wait_for_exit(procs, 2.0)
        try:
            done, words, best = _progress_counts(study, cfg.direction, final=True)
            bar.n = min(done, cfg.n_trials)
            bar.set_postfix_str(f"{words} best={'-' if best is None else f'{best:.5g}'}")
            bar.refresh()
        except Exception:  # noqa: BLE001
            pass
    finally:
        if bar is not None:
            bar.close()
        stop.forward = None
        for sig, h in previous.items():
            signal.signal(sig, h)
        for _, p, _ in procs:  # never leave a worker behind, whatever happened above
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=SECOND_SIGNAL_GRACE if give_up_at else 60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    stopped = [p.returncode for _, p, _ in procs if p.returncode in STOP_EXIT_CODES]
    crashed = [(plan, p, path) for plan, p, path in procs
               if p.returncode != 0 and not (p.returncode in STOP_EXIT_CODES or (stop and p.returncode < 0))]
    for plan, p, path in crashed:
        tail = path.read_text(errors="replace").splitlines()[-15:]
        print(f"worker {plan.index} (pid {p.pid}) exited with {p.returncode}; last lines of {path}:\n  "
              + "\n  ".join(tail), file=sys.stderr)
    if stop:  # a stop asked of this launcher wins over a worker's crash: the user asked for it
        return stop.exit_code or exit_code_of(signal.SIGINT)
    # 1 when a worker crashed; stopped when one was stopped by a signal of its own (no next phase either)
    return 1 if crashed else (stopped[0] if stopped else 0)
