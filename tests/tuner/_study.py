"""Helpers shared by the tuner tests: tiny study files and worker subprocesses that are always reaped."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import tomli_w
from cli_run import cli_command, cli_env, start, stocktune

__all__ = ["write_study", "env", "stocktune", "start", "reap", "Processes", "wait_for", "ScriptedFit", "trials", "TINY_TRAIN", "TINY_SEARCH",
           "ARCH_TRAIN", "ARCH_SEARCH", "REPO"]

REPO = Path(__file__).resolve().parents[2]

# a trial of a few seconds on 2 contended cores: tiny network, few samples, few epochs
TINY_TRAIN = {"epochs": 3, "samples_per_epoch": 512, "val_samples": 256, "eval_batch_size": 1024,
              "batch_size": 128, "hidden_dim": 8, "num_layers": 1, "seed": 0, "threads": 1}
TINY_SEARCH = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
               "cell": {"choices": ["gru", "lstm"]}, "dropout": {"low": 0.0, "high": 0.2},
               "warmup_ratio": {"low": 0.0, "high": 0.1}, "weight_decay": {"low": 1e-6, "high": 1e-3, "log": True}}
# architecture search of the dashboard and PostgreSQL tests (the dashboard checks these four params are shown)
ARCH_TRAIN = {"val_samples": 256, "eval_batch_size": 256, "batch_size": 64, "cell": "gru"}
ARCH_SEARCH = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "num_layers": {"low": 1, "high": 2},
               "hidden_dim": {"choices": [8, 16], "default": 8}, "warmup_ratio": {"low": 0.0, "high": 0.2}}


def write_study(tmp: Path, name: str = "t", n_trials: int = 4, storage: str | None = None,
                train: dict[str, Any] | None = None, search: dict[str, Any] | None = None,
                extra: dict[str, Any] | None = None, **tables: Any) -> Path:
    doc: dict[str, Any] = {"name": name, "storage": storage or f"sqlite:///{tmp}/study.db",
                           "artifacts": str(tmp / "artifacts"), "n_trials": n_trials,
                           "data": {"source": "sample", "look_back": 20, "look_ahead": 5},
                           "train": {**TINY_TRAIN, **(train or {})},
                           "search": TINY_SEARCH if search is None else search,
                           "sampler": {"name": "tpe", "seed": 1, "n_startup_trials": 2},
                           "pruner": {"name": "none"},
                           "heartbeat": {"interval": 1, "grace_period": 4},
                           "validation": {"folds": 1},
                           **tables, **(extra or {})}
    path = tmp / f"{name}.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def env(cache: Path) -> dict[str, str]:
    """What a worker subprocess adds to the environment: the one shared dataset cache."""
    return {"STOCKTUNE_CACHE": str(cache)}


def reap(*procs: subprocess.Popen) -> None:
    """Kill (by pid) whatever is still running; used in `finally` by every test that starts workers."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


class Processes:
    """``n`` identical `stocktune ARGS` subprocesses (a dashboard, a few workers) whose merged output is
    read by threads, so no pipe fills up and a failed assert can show every log; stop them in ``close``
    (SIGTERM, then SIGKILL), from a `finally`."""

    def __init__(self, *args: str, n: int = 1, cwd: Path, env: dict[str, str]) -> None:
        self.label = args[0]
        self.procs: list[subprocess.Popen] = []
        self.out: list[list[str]] = []
        self._readers: list[threading.Thread] = []
        try:
            for _ in range(n):
                p = subprocess.Popen(cli_command(*args), cwd=cwd, env=cli_env(env),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                lines: list[str] = []
                t = threading.Thread(target=self._read, args=(p, lines), daemon=True)
                t.start()
                self.procs.append(p)
                self.out.append(lines)
                self._readers.append(t)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _read(proc: subprocess.Popen, lines: list[str]) -> None:
        for line in proc.stdout:  # appended one by one: text() shows a running process's output so far
            lines.append(line)

    def text(self) -> str:
        return "\n".join(f"--- {self.label} {i} ---\n" + "".join(lines) for i, lines in enumerate(self.out))

    def wait(self, timeout: float) -> list[int]:
        """The exit codes, once all have exited (TimeoutExpired after ``timeout`` s); their output is complete."""
        deadline = time.monotonic() + timeout
        codes = [p.wait(max(1.0, deadline - time.monotonic())) for p in self.procs]
        for t in self._readers:
            t.join(10)
        return codes

    def finish(self, timeout: float) -> tuple[list[int], str]:
        """Wait for every process (then stop any left, as ``close``): their exit codes and whole output."""
        try:
            codes = self.wait(timeout)
        finally:
            self.close()
        return codes, self.text()

    def wait_until(self, cond, timeout: float, what: str, every: float = 0.2) -> None:
        """Poll ``cond`` until true; fail at once (with the logs) if a process exits before that."""
        deadline = time.monotonic() + timeout
        while not cond():
            assert all(p.poll() is None for p in self.procs) or cond(), \
                f"a {self.label} exited before {what}:\n{self.text()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.text()}"
            time.sleep(every)

    def close(self, grace: float = 20) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def wait_for(cond, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ScriptedFit:
    """Stands in for model.fit: val_mae falls per epoch and depends on learning_rate (and the fold, by
    ``fold_shift`` per fold), with checkpoints that carry the history, so a resume is exact and fast."""

    def __init__(self, fail_if=None, stop_at=None, stop_flag=None, fold_shift: float = 0.0):
        self.calls = []
        self.fail_if, self.stop_at, self.stop_flag, self.fold_shift = fail_if, stop_at, stop_flag, fold_shift

    def __call__(self, dataset, cfg, on_epoch=None, checkpoint_path=None, resume_from=None, keep_last=False):
        import torch

        import model

        fold = 1 + sum(c["cfg"] is cfg for c in self.calls) if self.calls else 1
        history = []
        if resume_from is not None:
            history = list(torch.load(resume_from, weights_only=True)["history"])
        start = len(history) + 1
        self.calls.append({"cfg": cfg, "resume_from": resume_from, "start": start, "epochs": [], "fold": fold,
                           "keep_last": keep_last})
        if self.fail_if and self.fail_if(cfg):
            raise model.NonFiniteLoss(1, 3, float("nan"))
        val = dataset.split("val").end_idx
        shift = self.fold_shift * (int(val[0]) % 7)  # different folds, different levels
        for epoch in range(start, cfg.epochs + 1):
            mae = 0.2 + abs(cfg.learning_rate - 0.003) * 10 + 0.05 / epoch + shift
            m = {"epoch": epoch, "val_mae": mae, "val_ic": 0.01, "val_icir": 0.1, "val_dir_acc": 0.51,
                 "val_skill_half": 0.01, "val_skill_mean": 0.0, "val_rmse": mae * 1.2, "samples_per_s": 1000.0,
                 "rss_mb": 300.0 + epoch}
            history.append(m)
            self.calls[-1]["epochs"].append(epoch)
            torch.save({"model": {}, "epoch": epoch, "history": history}, checkpoint_path)
            if self.stop_at is not None and epoch == self.stop_at:
                self.stop_flag.set("worker stopped by SIGTERM")
                self.stop_at = None
            if on_epoch(epoch, dict(m)) is False:
                break
        best = history[-1] if keep_last else min(history, key=lambda h: h["val_mae"])
        return SimpleNamespace(history=history, best_epoch=best["epoch"], best_metrics=best, model=None,
                               device="cpu", stopped_early=False, evaluation=None)


def trials(cfg) -> list:
    """The study's trials, read back from its storage."""
    import optuna

    return optuna.load_study(study_name=cfg.name, storage=cfg.storage).get_trials()
