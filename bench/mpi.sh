#!/bin/sh
# mpi.sh -- `make bench-mpi`: the training time of one model in one process
# with 1 and 2 threads, and under mpirun with 1 and 2 ranks of 1 thread each,
# and the bytes each rank exchanges per step; for two jobs:
#   1. the tutorial model on data/AAPL.csv, 10 epochs (data-parallel batches);
#   2. the M4 Hourly panel (414 series) with `--preset forecast`, as make
#      bench-m4 trains it but capped at M4_EPOCHS epochs (default 10; the
#      preset stops early at about 30-40): 3 networks, which 2 ranks cannot
#      split evenly, so each network's batches of 256 (8 chunks) are shared;
#      with M4_SEEDS=2 or 4 the networks are split between the ranks instead.
# Builds nothing: make did (an MPI build, make MPI=1, and build/bench/m4).
#
#   sh bench/mpi.sh [path/to/recur]     default build/recur
#
# Environment:
#   RECUR_BENCH_CMD  one training command instead of the two jobs, without the
#                    recur program, --out, --threads or --quiet
#   BENCH_REPS       runs per setting, the median is reported (3; 1 for M4)
#   M4_DIR           the M4 files (../shared/data/m4); job 2 is skipped
#                    without them
#
# The time is recur's own training time, on rank 0 ("N s of training" of a
# model, the "saved" line of a forecaster: fit alone, not the start-up of MPI
# or the data loading). Bytes per step are what rank 0's exchanges carry (its
# chunks out, the others' in, gradients and losses), from RECUR_MPI_STATS=1:
# the collective's payload, not the wire protocol's; with the time per step
# spent waiting for the slower rank (a barrier, added for measuring) apart
# from the exchange itself.
# The machine must be otherwise idle for the times to mean anything.
R=${1:-build/recur}
command -v mpirun > /dev/null || { echo "bench-mpi: no mpirun (sh scripts/deps.sh mpi)" >&2; exit 1; }
# Not bound to cores, and yielding while idle: on a machine shared with other
# work a rank spinning in MPI's wait steals the core the other rank needs.
MPIRUN="mpirun -q --oversubscribe --bind-to none --mca mpi_yield_when_idle 1"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
T=$(mktemp -d "${TMPDIR:-/tmp}/recur-bench-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

# one NAME LAUNCHER THREADS: the median training seconds of REPS runs; the
# last run's stderr in $T/NAME.err
one() {
    name=$1 launch=$2 th=$3
    i=0
    : > "$T/$name.times"
    while [ $i -lt "$REPS" ]; do
        # shellcheck disable=SC2086
        RECUR_MPI_STATS=1 $launch "$R" $CMD --threads "$th" --out "$T/$name.st" > /dev/null 2> "$T/$name.err" ||
            { echo "bench-mpi: $name failed:" >&2; tail -3 "$T/$name.err" >&2; exit 1; }
        sed -n -e 's/^saved .* (\([0-9.]*\)s of training)$/\1/p' -e 's/^saved .* series (\([0-9.]*\)s)$/\1/p' \
            "$T/$name.err" >> "$T/$name.times"
        i=$((i + 1))
    done
    sort -n "$T/$name.times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# job CMD REPS: the four settings of one training command, as a table
job() {
    CMD=$1 REPS=$2
    echo "recur $CMD  (median of $REPS run(s); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    t11=$(one p1 "" 1) || exit 1
    t12=$(one p2 "" 2) || exit 1
    tr1=$(one r1 "$MPIRUN -np 1" 1) || exit 1
    tr2=$(one r2 "$MPIRUN -np 2" 1) || exit 1
    grep -q '^mpi: 2 ranks' "$T/r2.err" || { echo "bench-mpi: $R is not an MPI build (make MPI=1)" >&2; exit 1; }
    cmp -s "$T/p1.st" "$T/r2.st" && same="yes" || same="NO"
    printf "%-36s %10s %9s\n" "setting" "training" "speed-up"
    for row in "1 process, 1 thread:$t11" "1 process, 2 threads:$t12" "mpirun -np 1, 1 thread:$tr1" \
        "mpirun -np 2, 1 thread each:$tr2"; do
        printf "%-36s %9.2fs %8.2fx\n" "${row%%:*}" "${row##*:}" "$(echo "$t11 ${row##*:}" | awk '{ print $1 / $2 }')"
    done
    echo "file of -np 2 = 1 process, byte for byte: $same"
    sed -n 's/^mpi: /-np 1: /p' "$T/r1.err"
    sed -n 's/^mpi: /-np 2: /p' "$T/r2.err"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ -n "$RECUR_BENCH_CMD" ]; then
    job "$RECUR_BENCH_CMD" "${BENCH_REPS:-3}"
    exit
fi
job "train --data data/AAPL.csv --epochs 10" "${BENCH_REPS:-3}"
M4=${M4_DIR:-../shared/data/m4}
TOOL=$(dirname "$R")/bench/m4
if [ ! -r "$M4/Hourly-train.csv" ] || [ ! -x "$TOOL" ]; then
    echo "bench-mpi: the M4 panel job skipped ($M4/Hourly-train.csv or $TOOL missing)"
    exit
fi
echo
"$TOOL" long "$M4/Hourly-train.csv" "$T/hourly.csv" || exit 1
S=""
[ -n "$M4_SEEDS" ] && S=" --seeds $M4_SEEDS"
job "train --data $T/hourly.csv --id-column unique_id --date-column ds --column y --horizon 48 --season 24 --preset forecast --epochs ${M4_EPOCHS:-10}$S" "${BENCH_REPS:-1}"
