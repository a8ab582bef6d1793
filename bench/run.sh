#!/bin/sh
# run.sh -- `make bench`: runs every benchmark case of recur (build/bench/bench_train)
# and, when /usr/bin/python3 can import torch, of PyTorch (bench/torch_bench.py),
# each case in its own process, then prints one table (bench/report.py).
# Builds nothing: make did.
#
#   sh bench/run.sh [BUILD]            BUILD defaults to build
#
# Environment:
#   PYTHON=/usr/bin/python3   interpreter for torch_bench.py and report.py
#   BENCH_QUICK=1             one timed repetition per training case (smoke test)
#   BENCH_NO_TORCH=1          recur only
#   BENCH_NO_DEMO=1           skip the `recur demo` timing
#   BENCH_DEMO_REPS=N         `recur demo` runs, median reported (3; 1 with BENCH_QUICK)
#   BENCH_JSON=FILE           also keep the raw JSON lines in FILE
#   BENCH_TORCH_BIG2=1        time torch's big case with 2 threads even when 2
#                             threads lost to 1 on the tutorial case
#
# Repetitions (timed + warm-up, per process): training 5+1 (big 3+1; torch with
# 2 threads 3+1, big 2+1, no more timed epochs after 15 s or 20 s, because it
# is slower than 1 thread on this 2-core machine; other training runs stop at
# 60 s), predict1 2000+200 calls, predict64 300+30 calls. Torch's big case with
# 2 threads runs only if 2 threads beat 1 on the tutorial. The whole run takes
# 3 to 5 minutes on the 2-core reference machine when it is otherwise idle.
#
# Torch threads: torch.set_num_threads(N) bounds torch's OpenMP pool but not
# the OpenBLAS pthreads behind its matrix products (Debian's torch calls the
# system libblas, OpenBLAS), which start one thread per core. So torch runs in
# three settings: N=1 with OPENBLAS_NUM_THREADS=1 (one core: the 1-thread
# comparison), N=1 as installed (torch's default here; OpenBLAS uses the second
# core), and N=2 with OPENBLAS_NUM_THREADS=1 (as installed, N=2 makes the two
# pools fight over the 2 cores and an epoch took 5 to 10 times longer).
# "torch best" is the fastest of the three.

# The option lists ($TR, $BIG, ...) are split into words on purpose.
# shellcheck disable=SC2086

BUILD=${1:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH=$BUILD/bench/bench_train
HERE=$(dirname "$0")

if [ ! -x "$BENCH" ]; then
    echo "run.sh: $BENCH not found: run 'make bench' (or make $BENCH) first" >&2
    exit 1
fi

OUT=$(mktemp -d "${TMPDIR:-/tmp}/recur-bench.XXXXXX") || exit 1
trap 'rm -rf "$OUT"' EXIT
trap 'exit 130' INT TERM
JSONL=$OUT/results.jsonl
: >"$JSONL"
FAILS=0

TIMEOUT=""
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 900"

if [ -n "$BENCH_QUICK" ]; then
    TR="--reps 1 --warmup 1"; BIG="--reps 1 --warmup 0"; T2="--reps 1 --warmup 0"; BIG2=$T2
    P1="--reps 200 --warmup 20"; P64="--reps 30 --warmup 5"; DEMO_REPS=${BENCH_DEMO_REPS:-1}
else
    TR="--reps 5 --warmup 1 --budget 60"; BIG="--reps 3 --warmup 1 --budget 60"
    T2="--reps 3 --warmup 1 --budget 15"; BIG2="--reps 2 --warmup 1 --budget 20"
    P1="--reps 2000 --warmup 200"; P64="--reps 300 --warmup 30"; DEMO_REPS=${BENCH_DEMO_REPS:-3}
fi

# run LABEL COMMAND...: one process, its JSON line appended, its stderr kept.
run() {
    label=$1; shift
    printf '  %-44s' "$label" >&2
    t0=$(date +%s)
    if $TIMEOUT "$@" --json >"$OUT/one.json" 2>"$OUT/one.err" && [ -s "$OUT/one.json" ]; then
        cat "$OUT/one.json" >>"$JSONL"
        echo " $(( $(date +%s) - t0 )) s" >&2
    else
        echo " FAILED (exit $?):" >&2
        sed 's/^/    /' "$OUT/one.err" >&2
        FAILS=$((FAILS + 1))
    fi
}

# trun LABEL ARGS...: run for torch_bench.py as installed; trun1 the same with
# OpenBLAS on one thread (see the note on torch threads above).
trun() {
    tl=$1; shift
    run "$tl" "$PYTHON" "$HERE/torch_bench.py" "$@"
}
trun1() {
    tl=$1; shift
    run "$tl" env OPENBLAS_NUM_THREADS=1 "$PYTHON" "$HERE/torch_bench.py" "$@"
}

echo "recur benchmark, $(date '+%Y-%m-%d %H:%M %Z')" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
echo "load average before: $LOAD_BEFORE" >&2

TORCH=0
if [ -z "$BENCH_NO_TORCH" ] && [ -x "$PYTHON" ] && "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    TORCH=1
    echo "recur ($BENCH) and torch ($("$PYTHON" -c 'import torch; print(torch.__version__)')), case by case:" >&2
elif [ -n "$BENCH_NO_TORCH" ]; then
    echo "recur ($BENCH) alone (BENCH_NO_TORCH)" >&2
else
    echo "recur ($BENCH) alone: $PYTHON cannot import torch" >&2
fi

# Case by case, recur then torch, so that both see the same machine load.
run "recur sgemm" "$BENCH" --case sgemm
[ $TORCH = 1 ] && trun1 "torch sgemm (torch.mm)" --case sgemm
for c in tutorial tutorial-gru tutorial-rnn; do
    run "recur $c threads=default" "$BENCH" --case $c --threads 0 $TR
    run "recur $c threads=1" "$BENCH" --case $c --threads 1 $TR
    if [ $TORCH = 1 ]; then
        trun1 "torch $c threads=1 openblas=1" --case $c --threads 1 $TR
        trun "torch $c threads=1" --case $c --threads 1 $TR
        trun1 "torch $c threads=2 openblas=1" --case $c --threads 2 $T2
    fi
done
run "recur big threads=default" "$BENCH" --case big --threads 0 $BIG
run "recur big threads=1" "$BENCH" --case big --threads 1 $BIG
if [ $TORCH = 1 ]; then
    trun1 "torch big threads=1 openblas=1" --case big --threads 1 $BIG
    trun "torch big threads=1" --case big --threads 1 $BIG
    # 2 threads on big only where 2 threads beat 1 on the tutorial (or when
    # asked): otherwise it costs a minute or more and loses anyway.
    if [ -n "$BENCH_TORCH_BIG2" ] || "$PYTHON" - "$JSONL" <<'EOF'
import json, sys
t = {}
for r in map(json.loads, open(sys.argv[1])):
    if r.get("impl") == "torch" and r.get("case") == "tutorial":
        t[r["threads"]] = min(r["median"], t.get(r["threads"], float("inf")))
sys.exit(0 if 2 in t and 1 in t and t[2] < t[1] else 1)
EOF
    then
        trun1 "torch big threads=2 openblas=1" --case big --threads 2 $BIG2
    else
        echo "  torch big threads=2 openblas=1               skipped: 2 threads lost to 1 on the tutorial (BENCH_TORCH_BIG2=1 forces it)" >&2
    fi
fi
for c in predict1 predict64; do
    if [ $c = predict1 ]; then P=$P1; else P=$P64; fi
    run "recur $c" "$BENCH" --case $c $P
    if [ $TORCH = 1 ]; then
        trun1 "torch $c threads=1 openblas=1" --case $c --threads 1 $P
        trun "torch $c threads=1" --case $c --threads 1 $P
        trun1 "torch $c threads=2 openblas=1" --case $c --threads 2 $P
    fi
done

# The demo runs DEMO_REPS times, like every other figure a median: one run of
# 15 s catches this shared machine's slow spells (13.8 and 15.4 s minutes apart
# at the same commit). DEMO="median min max max_rss_kb runs" for report.py.
DEMO=""
if [ -z "$BENCH_NO_DEMO" ] && [ -x "$BUILD/recur" ] && [ -f data/AAPL.csv ] \
    && "$BUILD/recur" demo --help >/dev/null 2>&1; then
    printf '  %-44s' "recur demo (50 epochs AAPL) x $DEMO_REPS" >&2
    mkdir -p "$OUT/demo"
    walls="" rss_max=0 rc=0 i=0
    while [ $i -lt "$DEMO_REPS" ] && [ $rc = 0 ]; do
        i=$((i + 1))
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -v "$BUILD/recur" demo --quiet --out "$OUT/demo" >"$OUT/demo.out" 2>"$OUT/demo.err"
            rc=$?
            wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$OUT/demo.err")
            rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/demo.err")
            # h:mm:ss or m:ss.ss -> seconds
            wall=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
        else
            t0=$(date +%s.%N)
            "$BUILD/recur" demo --quiet --out "$OUT/demo" >"$OUT/demo.out" 2>"$OUT/demo.err"
            rc=$?
            wall=$(echo "$t0 $(date +%s.%N)" | awk '{ print $2 - $1 }')
            rss=0
        fi
        [ $rc = 0 ] || break
        walls="$walls $wall"
        [ "${rss:-0}" -gt "$rss_max" ] && rss_max=${rss:-0}
        printf ' %s' "$wall" >&2
    done
    if [ $rc = 0 ]; then
        DEMO="$(echo $walls | tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END {
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }') $rss_max $DEMO_REPS"
        echo " s" >&2
    else
        echo " FAILED (exit $rc)" >&2
        sed 's/^/    /' "$OUT/demo.err" | tail -5 >&2
        FAILS=$((FAILS + 1))
    fi
elif [ -n "$BENCH_NO_DEMO" ]; then
    echo "  recur demo                                   skipped (BENCH_NO_DEMO)" >&2
else
    echo "  recur demo                                   skipped (needs $BUILD/recur with a demo command and data/AAPL.csv)" >&2
fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" >&2
[ -n "$BENCH_JSON" ] && cp "$JSONL" "$BENCH_JSON"

if command -v "$PYTHON" >/dev/null 2>&1 || [ -x "$PYTHON" ]; then
    "$PYTHON" "$HERE/report.py" "$JSONL" --torch "$TORCH" --demo "$DEMO" --load-before "$LOAD_BEFORE"
elif command -v python3 >/dev/null 2>&1; then
    python3 "$HERE/report.py" "$JSONL" --torch "$TORCH" --demo "$DEMO" --load-before "$LOAD_BEFORE"
else
    echo "run.sh: no python3 to format the table; raw results:"
    cat "$JSONL"
fi
if [ "$FAILS" -gt 0 ]; then
    echo "run.sh: $FAILS benchmark run(s) failed; their rows are missing above" >&2
    exit 1
fi
