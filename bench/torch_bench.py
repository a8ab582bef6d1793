#!/usr/bin/python3
"""torch_bench.py -- the PyTorch twin of bench_train.c, for `make bench`.

Same cases, shapes, sizes and JSON fields as build/bench/bench_train (the
synthetic series is a seeded random walk too, but not the same numbers):

  tutorial      nn.LSTM(1,50) -> Dropout(0.2) -> nn.LSTM(50,100) (last step)
                -> Dropout(0.2) -> nn.Linear(100,1); T=60, batch 64, 1200
                windows, RMSprop(lr=1e-3, alpha=0.9, eps=1e-7), MSE
  tutorial-gru  nn.GRU instead (torch's GRU is Keras reset_after=True)
  tutorial-rnn  nn.RNN (tanh) instead
  big           nn.LSTM(1,256) -> nn.LSTM(256,256) -> nn.Linear(256,1), T=100,
                batch 128, 512 windows
  predict1      tutorial model, eval() + no_grad(), latency of one window, us
  predict64     the same, throughput with batches of 64, windows/s
  sgemm         torch.mm at the shapes bench_train measures (1 thread)

Training times one epoch per repetition (manual shuffled batching, no
DataLoader) on the same model after --warmup untimed epochs; --budget S ends
the timed epochs early once S seconds have passed (the JSON "reps" says how
many ran). Run one case per
process: the peak RSS (resource.getrusage ru_maxrss) then belongs to it, and it
includes the Python interpreter and the torch import.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
from torch import nn

CASES = {
    # name: (windows, T, batch, reps, warmup)
    "tutorial": (1200, 60, 64, 5, 1),
    "tutorial-gru": (1200, 60, 64, 5, 1),
    "tutorial-rnn": (1200, 60, 64, 5, 1),
    "big": (512, 100, 128, 3, 1),
    "predict1": (1, 60, 1, 2000, 200),
    "predict64": (64, 60, 64, 300, 30),
    "sgemm": (0, 0, 0, 5, 1),
}

GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


class Stacked(nn.Module):
    """Two recurrent layers, dropout after each, Dense(1) on the last step."""

    def __init__(self, cell, h1, h2, rate):
        super().__init__()
        self.r1 = cell(1, h1, batch_first=True)
        self.d1 = nn.Dropout(rate)
        self.r2 = cell(h1, h2, batch_first=True)
        self.d2 = nn.Dropout(rate)
        self.fc = nn.Linear(h2, 1)

    def forward(self, x):
        y, _ = self.r1(x)
        y, _ = self.r2(self.d1(y))
        return self.fc(self.d2(y[:, -1, :]))


def build(case):
    if case == "big":
        return Stacked(nn.LSTM, 256, 256, 0.0)
    cell = {"tutorial-gru": nn.GRU, "tutorial-rnn": nn.RNN}.get(case, nn.LSTM)
    return Stacked(cell, 50, 100, 0.2)


def forward_flop(model, n, T):
    """Matrix-product FLOPs of one forward pass (formula in bench_train.c)."""
    f = 0.0
    for rnn in (model.r1, model.r2):
        g = GATES[type(rnn)]
        f += 2.0 * n * T * (rnn.input_size + rnn.hidden_size) * g * rnn.hidden_size
    f += 2.0 * n * model.fc.in_features * model.fc.out_features
    return f


def make_windows(n, T, seed=42):
    """Windows (n,T,1) of a seeded Gaussian random walk scaled to [0,1], and the next value (n,1)."""
    g = torch.Generator().manual_seed(seed)
    s = torch.cumsum(torch.randn(n + T, generator=g, dtype=torch.float64), 0)
    s = (s - s.min()) / max(float(s.max() - s.min()), 1e-12)
    s = s.float()
    x = s.unfold(0, T, 1)[:n].unsqueeze(-1).contiguous()
    y = s[T:T + n].unsqueeze(-1).contiguous()
    return x, y


def stats(v):
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return {"median": med, "min": v[0], "max": v[-1], "p90": v[int(0.9 * (n - 1) + 0.5)]}


def cpu_s():
    """CPU seconds (user + system) of every thread of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def run_train(case, a):
    windows, T, batch = a.windows, CASES[case][1], CASES[case][2]
    torch.manual_seed(42)
    x, y = make_windows(windows, T)
    model = build(case)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.MSELoss()
    model.train()

    def epoch():
        perm = torch.randperm(windows)
        for s0 in range(0, windows, batch):
            idx = perm[s0:s0 + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

    times, start, cpu = [], time.perf_counter(), 0.0
    for r in range(a.warmup + a.reps):
        t0, c0 = time.perf_counter(), cpu_s()
        epoch()
        if r >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu += cpu_s() - c0
            if a.budget > 0 and time.perf_counter() - start > a.budget:
                break
    a.reps = len(times)
    s = stats(times)
    gflop = 3.0 * forward_flop(model, windows, T) * 1e-9
    return dict(unit="s/epoch", **s, gflop=gflop, gflops=gflop / s["median"], cores=cpu / sum(times),
                windows=windows, T=T, batch=batch,
                params=sum(p.numel() for p in model.parameters()))


def run_predict(case, a):
    _, T, n = CASES[case][:3]
    torch.manual_seed(42)
    x, _ = make_windows(n, T)
    model = build("tutorial")
    model.eval()
    times, cpu = [], 0.0
    with torch.no_grad():
        for r in range(a.warmup + a.reps):
            t0, c0 = time.perf_counter(), cpu_s()
            model(x)
            if r >= a.warmup:
                times.append(time.perf_counter() - t0)
                cpu += cpu_s() - c0
    s = stats(times)
    gflop = forward_flop(model, n, T) * 1e-9
    if n == 1:
        out = {k: 1e6 * v for k, v in s.items()}
        unit = "us"
    else:  # throughput: the slowest call gives the min
        out = {"median": n / s["median"], "min": n / s["max"], "max": n / s["min"], "p90": n / s["p90"]}
        unit = "windows/s"
    return dict(unit=unit, **out, gflop=gflop, gflops=gflop / s["median"], cores=cpu / sum(times), windows=n, T=T,
                batch=n,
                params=sum(p.numel() for p in model.parameters()))


def run_sgemm(a):
    shapes = [(16, 200, 51), (16, 400, 150), (16, 1024, 512), (1024, 1024, 1024)]
    out = []
    for M, N, K in shapes:
        A, B = torch.rand(M, K) - 0.5, torch.rand(K, N) - 0.5
        C = torch.empty(M, N)
        g = []
        for r in range(a.warmup + a.reps):
            calls, t0 = 0, time.perf_counter()
            while True:
                torch.mm(A, B, out=C)
                calls += 1
                el = time.perf_counter() - t0
                if el >= 0.1:
                    break
            if r >= a.warmup:
                g.append(2.0 * M * N * K * calls / el * 1e-9)
        s = stats(g)
        out.append({"M": M, "N": N, "K": K, "median": s["median"], "min": s["min"], "max": s["max"]})
    return {"unit": "GFLOP/s", "shapes": out}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default="tutorial", choices=sorted(CASES))
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--reps", type=int, default=0, help="timed epochs or calls (per case)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed epochs or calls first (per case)")
    p.add_argument("--windows", type=int, default=0, help="training windows (tutorial* 1200, big 512)")
    p.add_argument("--budget", type=float, default=0,
                   help="training: stop after the first timed epoch that ends past this many seconds (0: off)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args()
    c = CASES[a.case]
    a.windows = a.windows or c[0]
    a.reps = a.reps if a.reps > 0 else c[3]
    a.warmup = a.warmup if a.warmup >= 0 else c[4]
    threads = 1 if a.case == "sgemm" else a.threads
    torch.set_num_threads(threads)
    if a.case == "sgemm":
        res = run_sgemm(a)
    elif a.case.startswith("predict"):
        res = run_predict(a.case, a)
    else:
        res = run_train(a.case, a)
    # OpenBLAS (torch's BLAS here) keeps its own pool: one thread per core unless
    # OPENBLAS_NUM_THREADS says otherwise. threads_used counts the larger pool.
    ob = os.environ.get("OPENBLAS_NUM_THREADS", "")
    ob_n = int(ob) if ob.isdigit() and int(ob) > 0 else len(os.sched_getaffinity(0))
    res = dict(impl="torch", version=torch.__version__, case=a.case, threads=threads,
               threads_used=max(torch.get_num_threads(), ob_n), openblas_threads=ob,
               reps=a.reps, warmup=a.warmup, **res,
               maxrss_kb=peak_rss_kb())
    if a.json:
        print(json.dumps(res))
        return
    print(f"torch {res['version']} {a.case}: threads {threads}, {a.reps} reps after {a.warmup} warm-up")
    if a.case == "sgemm":
        for s in res["shapes"]:
            print(f"  M={s['M']:<5} N={s['N']:<5} K={s['K']:<5} {s['median']:8.2f}  [{s['min']:.2f}-{s['max']:.2f}]")
    else:
        print(f"  median {res['median']:.6g} {res['unit']}  [min {res['min']:.6g}, max {res['max']:.6g}]")
        print(f"  {res['gflop']:.4g} GFLOP, {res['gflops']:.2f} GFLOP/s at the median, "
              f"{res['cores']:.2f} cores busy on average")
    print(f"  peak RSS {res['maxrss_kb'] / 1024:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
