"""Training-step throughput of stocktune's trainer vs a naive Dataset + DataLoader, and vs the matmul rate.

For GRU and LSTM at hidden 64/128/256 (batch 512, look-back 60, 24 features, 2 layers) it measures, side
by side in one run (medians of --reps repetitions, interleaved so drift hits all variants alike):

  naive         a torch Dataset that slices one window per __getitem__ + DataLoader(shuffle) + nn.GRU/nn.LSTM
  gather+module our batch gather (one index take from the feature matrix) + nn.GRU/nn.LSTM
  gather+fused  our batch gather + model.recurrent's fused layers (what the trainer runs on CPU for GRU,
                and for LSTM with 1 thread: see StockRNN._use_fused)

and the achieved GFLOP/s of our training step against a 2048x2048 ``torch.mm`` probe measured next to
each configuration. The step's FLOPs are counted analytically and exactly: every matmul of forward
(input projections, recurrent projections, head) and backward (2 per forward matmul: the weight
gradient and the input gradient, except the first layer's input gradient, which nothing needs), i.e.
3x the forward matmul FLOPs minus that one; elementwise gate math and LayerNorm are not counted. Each
rate is reported twice: per wall-clock second, and per second of this process's CPU time (probe
likewise). On a machine shared with other jobs the wall ratio swings with their load; the CPU-time
ratio is what the step achieves on the cores it actually gets.

With --device cuda (or --suite) it adds: bf16 autocast on/off, batch 512 and 4096, feature matrix
resident on the device vs gathered on the host and copied per batch, peak memory, first-epoch vs later
time, and K = 1, 2, 4 concurrent processes' total samples/s. --out writes everything as JSON.

  python bench/train.py                      # CPU, about 2-3 minutes on 2 cores
  python bench/train.py --device cuda --out runs/bench_train_cuda.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model.batches import gather_windows  # noqa: E402
from model.cells import CELLS  # noqa: E402
from model.network import StockRNN  # noqa: E402

L, F, LAYERS = 60, 24, 2
SUITE_BATCHES = (512, 4096)
FIT_SAMPLES, WORKER_SECONDS = 16384, 10.0
N_ROWS = 100_000  # feature matrix rows (about 10 MB): big enough that batches are real random gathers


def forward_flops(cell: str, hidden: int, batch: int) -> float:
    """Matmul FLOPs of one forward pass: input + recurrent projections of every layer, and the head."""
    g, fwd, inp = CELLS[cell].gates, 0.0, F
    for _ in range(LAYERS):
        fwd += 2.0 * batch * L * g * hidden * (inp + hidden)
        inp = hidden
    return fwd + 2.0 * batch * hidden  # head


def step_flops(cell: str, hidden: int, batch: int) -> float:
    """Matmul FLOPs of a training step: forward, plus weight and input gradients of every forward matmul
    (2x forward), less the first layer's input gradient (the data needs none): 3.7 % below the 3x-forward
    rule of thumb for GRU/LSTM-64."""
    return 3.0 * forward_flops(cell, hidden, batch) - 2.0 * batch * L * CELLS[cell].gates * hidden * F


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mm_gflops(device: torch.device, reps: int = 3) -> float:
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    a @ b
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * 2048**3 / statistics.median(times) / 1e9


class NaiveWindows(torch.utils.data.Dataset):
    """The textbook way: materialize one window per sample in Python."""

    def __init__(self, features: np.ndarray, end: np.ndarray, target: np.ndarray) -> None:
        self.features, self.end, self.target = features, end, target

    def __len__(self) -> int:
        return len(self.end)

    def __getitem__(self, i: int):
        e = int(self.end[i])
        return torch.from_numpy(self.features[e - L + 1: e + 1]), torch.tensor(self.target[i])


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.uniform(-1, 1, (N_ROWS, F)).astype(np.float32)
    end = np.arange(L - 1, N_ROWS, dtype=np.int64)
    target = rng.uniform(size=end.size).astype(np.float32)
    return features, end, target


class Trainer:
    """One training step the way model/train.py does it (gather -> forward -> backward -> clip -> AdamW)."""

    def __init__(self, cell: str, hidden: int, batch: int, device: torch.device, impl: str, data,
                 amp: bool = False, resident: bool = True) -> None:
        features, end, target = data
        torch.manual_seed(0)
        self.net = StockRNN(F, cell, hidden, LAYERS).to(device)
        self.net.rnn_impl = impl
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3)
        self.device, self.batch, self.amp, self.resident = device, batch, amp, resident
        self.host_features = torch.from_numpy(features)
        self.features = self.host_features.to(device) if resident else self.host_features
        self.end = torch.from_numpy(end).to(device if resident else "cpu")
        self.target = torch.from_numpy(target).to(device)
        self.gen = np.random.default_rng(1)

    def step(self) -> torch.Tensor:
        idx = torch.from_numpy(self.gen.integers(0, self.end.shape[0], self.batch)).to(self.end.device)
        x = gather_windows(self.features, self.end[idx], L)  # [B, L, F]
        if not self.resident:
            x = x.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else x
        y = self.target[idx.to(self.device)]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            pred = self.net(x)
        loss = nn.functional.l1_loss(pred.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        return loss.detach()


class NaiveTrainer:
    """Dataset + DataLoader (no workers, shuffled) + the module RNN: the baseline."""

    def __init__(self, cell: str, hidden: int, batch: int, device: torch.device, data) -> None:
        features, end, target = data
        torch.manual_seed(0)
        self.net = StockRNN(F, cell, hidden, LAYERS).to(device)
        self.net.rnn_impl = "module"
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3)
        self.device = device
        self.loader = torch.utils.data.DataLoader(NaiveWindows(features, end, target), batch_size=batch,
                                                  shuffle=True, num_workers=0, drop_last=True)
        self.it = iter(self.loader)

    def step(self) -> torch.Tensor:
        try:
            x, y = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            x, y = next(self.it)
        x, y = x.to(self.device), y.to(self.device)
        loss = nn.functional.l1_loss(self.net(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        return loss.detach()


def time_step(trainer, device: torch.device, steps: int = 1, cpu: list | None = None) -> float:
    """Wall seconds per step; appends the process CPU seconds per step to ``cpu`` when given."""
    sync(device)
    c, t = time.process_time(), time.perf_counter()
    for _ in range(steps):
        trainer.step()
    sync(device)
    if cpu is not None:
        cpu.append((time.process_time() - c) / steps)
    return (time.perf_counter() - t) / steps


def mm_probe(device: torch.device) -> tuple[float, float]:
    """(wall GFLOP/s, CPU-time GFLOP/s) of one 2048x2048 matmul."""
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    a @ b
    sync(device)
    c, t = time.process_time(), time.perf_counter()
    a @ b
    sync(device)
    flop = 2 * 2048**3 / 1e9
    return flop / (time.perf_counter() - t), flop / max(time.process_time() - c, 1e-9)


def core_table(device: torch.device, reps: int, hiddens: list[int], batch: int) -> list[dict]:
    data = make_data()
    rows = []
    for cell in ("gru", "lstm"):
        for hidden in hiddens:
            variants = {"naive": NaiveTrainer(cell, hidden, batch, device, data),
                        "gather+module": Trainer(cell, hidden, batch, device, "module", data),
                        "gather+fused": Trainer(cell, hidden, batch, device, "fused", data)}
            if device.type == "cuda":
                del variants["gather+fused"]  # cuDNN is the CUDA path
            for tr in variants.values():  # warm up (allocator, oneDNN primitive cache, cuDNN autotune)
                time_step(tr, device, 2)
            times = {k: [] for k in variants}
            cpu_times = {k: [] for k in variants}
            probes = []
            for _ in range(reps):  # interleaved: drift of a shared machine hits every variant alike
                probes.append(mm_probe(device))
                for k, tr in variants.items():
                    times[k].append(time_step(tr, device, cpu=cpu_times[k]))
            med = {k: statistics.median(v) for k, v in times.items()}
            mm = statistics.median(p[0] for p in probes)
            mm_cpu = statistics.median(p[1] for p in probes)
            flops = step_flops(cell, hidden, batch)
            probe_net = StockRNN(F, cell, hidden, LAYERS)
            row = {"cell": cell, "hidden": hidden, "batch": batch, "mm_gflops": mm, "mm_cpu_gflops": mm_cpu,
                   "step_gflop": flops / 1e9, "step_gflop_3x_forward": 3 * forward_flops(cell, hidden, batch) / 1e9,
                   "auto_impl": "fused" if probe_net._use_fused(torch.empty(0, device=device)) else "module"}
            for k, t in med.items():
                row[f"{k}_samples_per_s"] = batch / t
                row[f"{k}_gflops"] = flops / t / 1e9
                row[f"{k}_mm_ratio"] = flops / t / 1e9 / mm
                row[f"{k}_cpu_mm_ratio"] = flops / statistics.median(cpu_times[k]) / 1e9 / mm_cpu
            rows.append(row)
            print_row(row)
    return rows


def print_row(r: dict) -> None:
    parts = [f"{r['cell']:>4} H={r['hidden']:<3} mm={r['mm_gflops']:5.1f} GF/s (cpu-time {r['mm_cpu_gflops']:5.1f}) "
             f"auto={r['auto_impl']}"]
    for k in ("naive", "gather+module", "gather+fused"):
        if f"{k}_samples_per_s" in r:
            parts.append(f"{k}: {r[f'{k}_samples_per_s']:6.0f} samp/s {r[f'{k}_gflops']:5.1f} GF/s "
                         f"({100 * r[f'{k}_mm_ratio']:4.1f}% of mm, cpu-time {100 * r[f'{k}_cpu_mm_ratio']:4.1f}%)")
    print(" | ".join(parts), flush=True)


# ------------------------------------------------------------------ the accelerator suite
def suite(device: torch.device, reps: int, hidden: int = 64, threads: int | None = None) -> dict:
    data = make_data()
    out: dict = {"amp_batch_residency": [], "first_vs_later": {}, "concurrent": []}
    for cell in ("gru", "lstm"):
        for batch in SUITE_BATCHES:
            for amp in (False, True):
                for resident in (True, False):
                    impl = "auto"
                    tr = Trainer(cell, hidden, batch, device, impl, data, amp=amp, resident=resident)
                    time_step(tr, device, 2)
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    t = statistics.median(time_step(tr, device) for _ in range(reps))
                    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
                    r = {"cell": cell, "hidden": hidden, "batch": batch, "amp": amp, "resident": resident,
                         "samples_per_s": batch / t, "peak_mb": peak}
                    out["amp_batch_residency"].append(r)
                    print(f"  {cell} H={hidden} batch={batch:<5} amp={amp!s:<5} resident={resident!s:<5} "
                          f"{r['samples_per_s']:9.0f} samp/s  peak {peak:7.1f} MB", flush=True)
    # first epoch (cold: allocator, cuDNN autotune, feature upload) vs later epochs, via the real fit()
    out["first_vs_later"] = first_vs_later(device)
    print(f"  first vs later epoch: {out['first_vs_later']}", flush=True)
    for k in (1, 2, 4):
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--device", str(device),
                                   "--worker-seconds", str(WORKER_SECONDS),
                                   *(["--threads", str(threads)] if threads else [])],
                                  stdout=subprocess.PIPE, text=True) for _ in range(k)]
        rates = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])["samples_per_s"] for p in procs]
        r = {"processes": k, "total_samples_per_s": sum(rates), "per_process": rates}
        out["concurrent"].append(r)
        print(f"  K={k} concurrent processes: total {sum(rates):9.0f} samp/s", flush=True)
    return out


def first_vs_later(device: torch.device) -> dict:
    import model
    from data_prep.dataset import PreparedDataset, SplitArrays

    features, end, target = make_data()
    n = end.size
    split = {"train": SplitArrays(end[: n * 8 // 10], target[: n * 8 // 10], target[: n * 8 // 10]),
             "val": SplitArrays(end[n * 8 // 10:], target[n * 8 // 10:], target[n * 8 // 10:])}
    ds = PreparedDataset.from_arrays(features, np.zeros(N_ROWS, np.int32),
                                     np.arange(N_ROWS).astype("datetime64[D]"), split,
                                     {"look_back": L, "look_ahead": 5, "tickers": ["X"]})
    cfg = model.TrainConfig(hidden_dim=64, epochs=3, samples_per_epoch=FIT_SAMPLES, val_samples=FIT_SAMPLES // 2,
                            device=str(device), batch_size=512)
    res = model.fit(ds, cfg)
    return {f"epoch_{h['epoch']}_s": h["epoch_time_s"] for h in res.history} | {
        "gpu_peak_mb": res.history[-1]["gpu_peak_mb"]}


def worker(device: torch.device, seconds: float = WORKER_SECONDS) -> None:
    """One of K concurrent processes: GRU-64 steps for a fixed wall time, prints samples/s as JSON."""
    tr = Trainer("gru", 64, 512, device, "auto", make_data())
    time_step(tr, device, 3)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        tr.step()
        n += 1
    sync(device)
    print(json.dumps({"samples_per_s": n * 512 / (time.perf_counter() - t0)}))


def machine(device: torch.device) -> dict:
    info = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main() -> None:
    global SUITE_BATCHES, FIT_SAMPLES, WORKER_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per variant (median reported)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--suite", action="store_true", help="run the accelerator suite (default on CUDA)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that every part runs")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-seconds", type=float, default=WORKER_SECONDS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.worker:
        worker(device, args.worker_seconds)
        return
    if args.smoke:
        SUITE_BATCHES, FIT_SAMPLES, WORKER_SECONDS = (32, 64), 256, 1.0
    info = machine(device)
    print(f"machine: {info}", flush=True)
    t0 = time.perf_counter()
    result = {"machine": info, "config": {"look_back": L, "features": F, "layers": LAYERS, "batch": args.batch,
                                          "reps": args.reps},
              "core": core_table(device, args.reps, args.hidden, args.batch)}
    if args.suite or device.type == "cuda":
        result["suite"] = suite(device, args.reps, threads=args.threads)
    result["wall_s"] = time.perf_counter() - t0
    print(f"wall {result['wall_s']:.0f} s", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
