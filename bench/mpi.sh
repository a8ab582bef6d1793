#!/bin/sh
# mpi.sh -- `make bench-mpi`: the training time of one model in one process
# with 1 and 2 threads, and under mpirun with 1 and 2 ranks of 1 thread each,
# and the bytes each rank exchanges per step. Builds nothing: make did (an
# MPI build, make MPI=1).
#
#   sh bench/mpi.sh [path/to/recur]     default build/recur
#
# Environment:
#   RECUR_BENCH_CMD  the training command, without the recur program, --out,
#                    --threads or --quiet (default: the tutorial model on
#                    data/AAPL.csv, 10 epochs). Point it at another data set
#                    or model, e.g. the M4 Hourly panel once recur trains
#                    panels: RECUR_BENCH_CMD="train --data m4h.csv ..."
#   BENCH_REPS       runs per setting, the median is reported (3)
#
# The time is recur's own "N s of training" (fit alone: not the start-up of
# MPI or the data loading), on rank 0. Bytes per step are what rank 0's
# exchanges carry (its chunks out, the others' in, gradients and losses), from
# RECUR_MPI_STATS=1: the collective's payload, not the wire protocol's; with
# the time per step spent waiting for the slower rank (a barrier, added for
# measuring) apart from the exchange itself.
# The machine must be otherwise idle for the times to mean anything.
R=${1:-build/recur}
CMD=${RECUR_BENCH_CMD:-train --data data/AAPL.csv --epochs 10}
REPS=${BENCH_REPS:-3}
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
        sed -n 's/^saved .* (\([0-9.]*\)s of training)$/\1/p' "$T/$name.err" >> "$T/$name.times"
        i=$((i + 1))
    done
    sort -n "$T/$name.times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo "recur $CMD  (median of $REPS runs; $(nproc) cores)"
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
echo "model file of -np 2 = 1 process, byte for byte: $same"
sed -n 's/^mpi: /-np 1: /p' "$T/r1.err"
sed -n 's/^mpi: /-np 2: /p' "$T/r2.err"
