#!/usr/bin/python3
"""report.py -- formats the JSON lines of bench/run.sh into the tables of docs/performance.md.

    python3 bench/report.py RESULTS.jsonl [--torch 0|1] [--demo "MEDIAN_S MIN_S MAX_S MAXRSS_KB RUNS"]
                            [--load-before "L1 L5 L15"]

Plain Python 3 standard library: it needs no torch. Tables are Markdown, so
they paste into docs/performance.md as they are.
"""
import argparse
import json
import os
import subprocess
import time

TRAIN = ["tutorial", "tutorial-gru", "tutorial-rnn", "big"]
LABEL = {
    "tutorial": "tutorial LSTM",
    "tutorial-gru": "tutorial GRU",
    "tutorial-rnn": "tutorial SimpleRNN",
    "big": "big LSTM(256)x2",
    "predict1": "predict 1 window",
    "predict64": "predict batches of 64",
    "predict1-stream": "predict 1 window, recur_stream (no training caches)",
    "step": "one streaming step (recur_stream_step)",
    "window-floor": "window floor: layer 2's h.U alone, 60 steps, one core (no other work)",
}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def find(rows, impl, case, threads=None, openblas=None):
    for r in rows:
        if r.get("impl") == impl and r.get("case") == case and (threads is None or r.get("threads") == threads) \
                and (openblas is None or r.get("openblas_threads") == openblas):
            return r
    return None


def tconf(r):
    """Torch's thread setting: set_num_threads, and OpenBLAS's when it was set."""
    ob = r.get("openblas_threads")
    return f"{r['threads']}, OpenBLAS {ob or 'default'}"


def torch_one_core(rows, case):
    """Torch on one core: 1 thread with OpenBLAS on 1 thread, else any 1-thread run."""
    return find(rows, "torch", case, 1, "1") or find(rows, "torch", case, 1)


def torch_best(rows, case):
    """The torch run with the best median for the case (largest for throughput)."""
    runs = [r for r in rows if r.get("impl") == "torch" and r.get("case") == case]
    if not runs:
        return None
    if runs[0]["unit"] == "windows/s":
        return max(runs, key=lambda r: r["median"])
    return min(runs, key=lambda r: r["median"])


def fmt_num(v):
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


UNIT = {"s/epoch": "s", "us": "us", "windows/s": "win/s"}


def fmt_run(r):
    if r is None:
        return "-"
    return f"{fmt_num(r['median'])} {UNIT.get(r['unit'], r['unit'])} [{fmt_num(r['min'])}-{fmt_num(r['max'])}]"


def speedup(recur, torch):
    """How many times better recur is (time ratio, or throughput ratio)."""
    if recur is None or torch is None:
        return None
    if recur["unit"] == "windows/s":
        return recur["median"] / torch["median"]
    return torch["median"] / recur["median"]


def mark(ok):
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def machine():
    model, flags = "?", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1]
    except OSError:
        pass
    avx = "AVX-512" if " avx512f" in flags else ("AVX2" if " avx2" in flags else "no AVX2")
    return f"{model}, {os.cpu_count()} CPUs, {avx}"


def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "") if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--torch", default="1")
    p.add_argument("--demo", default="")
    p.add_argument("--load-before", default="")
    a = p.parse_args()
    rows = load(a.results)
    has_torch = a.torch == "1" and any(r.get("impl") == "torch" for r in rows)

    # The sgemm reference runs twice, first and after the training cases, so
    # that a rate measured minutes before a row is not all it is read against:
    # each reference is the mean of the two runs' medians.
    sgs = [r for r in rows if r.get("impl") == "recur" and r.get("case") == "sgemm" and "shapes" in r]
    p1 = [s["median"] for r in sgs for s in r["shapes"] if s["M"] == 1024]
    p2 = [r["two_threads"]["median"] for r in sgs if "two_threads" in r]
    peak1 = sum(p1) / len(p1) if p1 else None  # 1-thread cblas_sgemm GFLOP/s at 1024^3
    peak2 = sum(p2) / len(p2) if p2 else None  # the same on 2 threads


    def peak(used):
        """The sgemm rate on `used` threads: measured for 1 and 2, else used x the 1-thread rate."""
        if used == 2 and peak2:
            return peak2
        return used * peak1 if peak1 else None
    tv = next((r.get("version") for r in rows if r.get("impl") == "torch"), None)
    load_avg = " ".join(f"{v:.2f}" for v in os.getloadavg())

    print(f"recur benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; git {git_rev()}")
    before = f"before {a.load_before}, " if a.load_before else ""
    print(f"machine: {machine()}; load average (1, 5, 15 min) {before}after {load_avg}")
    if os.environ.get("BENCH_OPENBLAS_NOTE"):
        print(os.environ["BENCH_OPENBLAS_NOTE"])
    print(f"torch: {tv}" if has_torch else "torch: not importable by /usr/bin/python3 (or BENCH_NO_TORCH): "
          "recur figures alone, no ratios")
    for i, sg in enumerate(sgs):
        when = ["first", "after the training cases"][min(i, 1)] if len(sgs) > 1 else "once"
        print(f"sgemm ({when}), 1 thread, GFLOP/s median: recur's OpenBLAS " + ", ".join(
            f"{s['M']}x{s['N']}x{s['K']} {s['median']:.1f}" for s in sg["shapes"]), end="")
        if all("pgemm" in s for s in sg["shapes"]):
            print("; recur's rc_pgemm " + ", ".join(f"{s['pgemm']['median']:.1f}" for s in sg["shapes"]), end="")
        tsg = find(rows, "torch", "sgemm")
        if i == 0 and tsg and "shapes" in tsg:
            print("; torch.mm (OPENBLAS_NUM_THREADS=1) " + ", ".join(f"{s['median']:.1f}" for s in tsg["shapes"]), end="")
        if "two_threads" in sg:
            t2 = sg["two_threads"]
            print(f"; 2 threads at 1024^3: OpenBLAS {t2['median']:.1f}, two threads of rc_pgemm at once "
                  f"{t2['pgemm']['median']:.1f}", end="")
        print()
    if peak1:
        print(f"sgemm rates the shares are read against (mean of the runs above, 1024^3): 1 thread {peak1:.1f}"
              + (f", 2 threads {peak2:.1f} GFLOP/s ({peak2 / peak1:.2f}x the 1-thread rate)" if peak2 else " GFLOP/s"))
    if not sgs and find(rows, "recur", "sgemm"):  # a BLAS=0 build says why there is none
        print(f"sgemm: {find(rows, 'recur', 'sgemm').get('unavailable', 'not measured')}")
    print()

    # ---- main table ----
    print("| case | recur median [min-max] | torch best median (threads) | speedup | target | met? |")
    # (threads) is torch.set_num_threads, plus "OpenBLAS 1" when run with OPENBLAS_NUM_THREADS=1
    print("|---|---|---|---|---|---|")


    def ratio_row(label, rr, tr, target):
        sp = speedup(rr, tr) if has_torch else None
        tcol = f"{fmt_run(tr)} ({tconf(tr)})" if tr else "-"
        spc = f"{sp:.2f}x" if sp is not None else "-"
        print(f"| {label} | {fmt_run(rr)} | {tcol} | {spc} | >= {target}x | "
              f"{mark(None if sp is None else sp >= target)} |")

    for c in TRAIN:
        r0 = find(rows, "recur", c, 0)
        th = f"default threads ({r0['threads_used']})" if r0 else "default threads"
        ratio_row(f"{LABEL[c]}, {th} vs torch best", r0, torch_best(rows, c), 2 if c == "big" else 3.5)
        if c != "big":
            ratio_row(f"{LABEL[c]}, 1 thread vs torch 1 thread", find(rows, "recur", c, 1),
                      torch_one_core(rows, c), 2)
    p1 = find(rows, "recur", "predict1")
    tp1 = torch_best(rows, "predict1")
    sp = speedup(p1, tp1) if has_torch else None
    print(f"| {LABEL['predict1']} (latency) | {fmt_run(p1)} | "
          f"{fmt_run(tp1) + ' (' + tconf(tp1) + ')' if tp1 else '-'} | "
          f"{f'{sp:.2f}x' if sp else '-'} | < 200 us | {mark(None if not p1 else p1['median'] < 200)} |")
    ps = find(rows, "recur", "predict1-stream")
    print(f"| {LABEL['predict1-stream']} (latency) | {fmt_run(ps)} | - | - | < 100 us | "
          f"{mark(None if not ps else ps['median'] < 100)} |")
    st = find(rows, "recur", "step")
    print(f"| {LABEL['step']} (latency) | {fmt_run(st)} | - | - | < 5 us | {mark(None if not st else st['median'] < 5)} |")
    fl = find(rows, "recur", "window-floor")
    if fl:
        print(f"| {LABEL['window-floor']} | {fmt_run(fl)} | - | - | (a floor) | n/a |")
    for c, tgt in (("tutorial-gru", 75), ("big", 90)):
        r0 = find(rows, "recur", c, 0)
        if r0 and peak1:
            used = r0["threads_used"]
            sh = 100 * r0["gflops"] / peak(used)
            print(f"| {LABEL[c]}, default threads ({used}): share of the sgemm rate on {used} threads | "
                  f"{sh:.0f}% ({r0['gflops']:.1f} of {peak(used):.1f} GFLOP/s) | - | - | >= {tgt}% | "
                  f"{mark(sh >= tgt if used == 2 else None)} |")
    rr0, rr1 = find(rows, "recur", "tutorial-rnn", 0), find(rows, "recur", "tutorial-rnn", 1)
    if rr0 and rr1:
        sc = rr1["median"] / rr0["median"]
        print(f"| 2 threads vs 1, tutorial SimpleRNN (recur) | {sc:.2f}x ({rr0['threads_used']} vs 1 threads) | - | - | "
              f">= 1.6x | {mark(sc >= 1.6 if rr0['threads_used'] >= 2 else None)} |")
    ratio_row(f"{LABEL['predict64']} (throughput)", find(rows, "recur", "predict64"), torch_best(rows, "predict64"), 3)
    rt = find(rows, "recur", "tutorial", 0)
    tt = torch_one_core(rows, "tutorial")
    if rt:
        mb = rt["maxrss_kb"] / 1024
        tcol = f"{tt['maxrss_kb'] / 1024:.0f} MB ({tconf(tt)})" if tt else "-"
        print(f"| peak RSS, training the tutorial model | {mb:.1f} MB | {tcol} | - | < 32 MB | {mark(mb < 32)} |")
    r1 = find(rows, "recur", "tutorial", 1)
    if rt and r1:
        sc = r1["median"] / rt["median"]
        print(f"| 2 threads vs 1, tutorial LSTM (recur) | {sc:.2f}x ({rt['threads_used']} vs 1 threads) | - | - | "
              f">= 1.6x | {mark(sc >= 1.6 if rt['threads_used'] >= 2 else None)} |")
    if a.demo:
        f = a.demo.split()
        if len(f) == 2:  # "wall rss": one run (older run.sh)
            f = [f[0], f[0], f[0], f[1], "1"]
        wall, lo, hi, rss, n = float(f[0]), float(f[1]), float(f[2]), int(f[3]), int(f[4])
        runs = f"median of {n} runs [{lo:.1f}-{hi:.1f}]" if n > 1 else "1 run"
        print(f"| `recur demo` end to end (50 epochs AAPL) | {wall:.1f} s ({runs}), peak RSS {rss / 1024:.1f} MB "
              f"| - | - | < 15 s | {mark(wall < 15)} |")
    else:
        print("| `recur demo` end to end (50 epochs AAPL) | not run | - | - | < 15 s | n/a |")
    print()

    # ---- every run ----
    share_note = ("share = GFLOP/s / the sgemm rate at 1024^3 on as many threads as the run used"
                  + (f" (1: {peak1:.1f}" + (f", 2: {peak2:.1f}" if peak2 else "") + " GFLOP/s)" if peak1
                     else ", not measured")
                  + "; x 1-thread = GFLOP/s / (threads used x the 1-thread rate), the share before 2-thread "
                  "sgemm was measured")
    print(f"Every run: medians over the timed repetitions; GFLOP/s counts matrix products only; {share_note}; "
          "cores busy = CPU time / wall time over the timed part.")
    print()
    print("| run | threads | reps+warm-up | median [min-max] | GFLOP/s | share of sgemm | x 1-thread | cores busy "
          "| peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("case") == "sgemm":
            continue
        used = r.get("threads_used", r.get("threads"))
        share = f"{100 * r['gflops'] / peak(used):.0f}%" if peak1 and r.get("gflops") else "-"
        share1 = f"{100 * r['gflops'] / (used * peak1):.0f}%" if peak1 and r.get("gflops") else "-"
        th = tconf(r) if r["impl"] == "torch" else ("default " if r["threads"] == 0 else "") + f"{used}"
        cores = f"{r['cores']:.2f}" if "cores" in r else "-"
        print(f"| {r['impl']} {LABEL.get(r['case'], r['case'])} | {th} | "
              f"{r.get('reps', '?')}+{r.get('warmup', '?')} | {fmt_run(r)} | "
              f"{r['gflops']:.1f} | {share} | {share1} | {cores} | {r['maxrss_kb'] / 1024:.1f} MB |")
    print()

    # ---- thread scaling ----
    sc = []
    for c in TRAIN:
        r0, r1 = find(rows, "recur", c, 0), find(rows, "recur", c, 1)
        if r0 and r1:
            sc.append(f"{LABEL[c]} {r1['median'] / r0['median']:.2f}x")
    if sc:
        print("recur thread scaling (1-thread epoch time / default-threads epoch time): " + ", ".join(sc))
    ts = []
    for c in TRAIN + ["predict1", "predict64"]:
        t1, t2 = torch_one_core(rows, c), find(rows, "torch", c, 2)
        if t1 and t2:
            f = t2["median"] / t1["median"] if t1["unit"] == "windows/s" else t1["median"] / t2["median"]
            ts.append(f"{LABEL[c]} {f:.2f}x")
    if ts:
        print("torch thread scaling (2 threads vs 1, OpenBLAS on 1 thread in both; > 1 is faster): " + ", ".join(ts))


if __name__ == "__main__":
    main()
