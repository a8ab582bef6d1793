#!/bin/sh
# test_mpi.sh -- recur train under mpirun (make MPI=1): loopback ranks on this
# machine give the model files of one process byte for byte, and the faults
# end the whole run, never hang it.
#
#  1. The same seed and global batch size give the same model file (cmp),
#     whether the gradients are summed along a chain of the ranks (the
#     default) or all-gathered (RECUR_MPI_ALLGATHER=1),
#     the same --history and the same stdout for a plain build's run, the MPI
#     build run without mpirun, and mpirun -np 1, 2 and 3 (with dropout,
#     a validation split and early stopping, batches of 64 = 4 chunks, of 100
#     = 7 chunks over 3 ranks, short last batches; 2 threads per rank too),
#     and a checkpoint of -np 2 resumed with -np 3.
#  2. A data file missing on one rank: exit 1, one error line from rank 0
#     naming the rank and the file, --out left as it was.
#  3. A rank killed with SIGKILL mid-training: the run ends (non-zero) well
#     within the time limit, with rank 0's line saying so, --out left as it was.
#  4. SIGINT to mpirun (Ctrl-C): rank 0 saves the last complete epoch (the
#     checkpoint's), which is byte for byte a plain run of that many epochs.
#  5. Another command under mpirun -np 2: a usage error, exit 2.
#  6. Panels: `recur train --id-column` (a seed ensemble split across ranks,
#     the networks left over data-parallel) and `recur backtest` (fits shared
#     the same way, each round's forecasts split by series; with --cold-refit
#     the fits themselves spread over the ranks) give the plain run's
#     forecaster file and table byte for byte with -np 2 and 3; a panel
#     missing on one rank ends the backtest with rank 0's one line.
#
# Usage: sh tests/test_mpi.sh path/to/recur-with-MPI [path/to/plain-recur]
#        (CI runs as root: mpirun gets --allow-run-as-root there.)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_mpi.sh "$1"
PLAIN=${2:-$R}
case $PLAIN in /*) ;; *) PLAIN=$(pwd)/$PLAIN ;; esac
command -v mpirun > /dev/null || { echo "test_mpi.sh: no mpirun (sh scripts/deps.sh mpi)"; exit 1; }
MPIRUN="mpirun -q --oversubscribe"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
LIMIT=120 # seconds: a hang fails the test instead of the CI job

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-mpi.XXXXXX") || exit 1
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
head -n 401 "$SRC" > d.csv # 400 rows: 320 training rows, 300 windows of 20

# run NAME NP ARGS...: trains to NAME.st (NAME.out stdout, NAME.err stderr,
# NAME.csv history); NP = plain or mpi (the MPI build without mpirun) or a rank count.
run() {
    name=$1 np=$2
    shift 2
    set -- train --data d.csv --timestep 20 --epochs 3 --seed 7 --out "$name.st" --history "$name.csv" --quiet "$@"
    case $np in
    plain) "$PLAIN" "$@" ;;
    mpi) "$R" "$@" ;;
    *) timeout $LIMIT $MPIRUN -np "$np" "$R" "$@" ;;
    esac > "$name.out" 2> "$name.err"
}
# same A B: A's model, history and stdout equal B's byte for byte
same() {
    for x in st csv out; do
        cmp -s "$1.$x" "$2.$x" || { echo "    $1.$x differs from $2.$x"; return 1; }
    done
}

# ---- 1. bit-identical across ranks
L="lstm(12,seq) dropout(0.2) gru(8) dense(1)"
check "plain run" run p plain --layers "$L" --batch-size 64 --validation-split 0.1 --patience 2 --threads 1
check "MPI build without mpirun" run m mpi --layers "$L" --batch-size 64 --validation-split 0.1 --patience 2 --threads 1
check "  same as plain" same m p
for np in 1 2 3; do
    check "-np $np" run n$np $np --layers "$L" --batch-size 64 --validation-split 0.1 --patience 2 --threads 1
    check "  -np $np same as plain" same n$np p
done
check "-np 2, 2 threads each" run t2 2 --layers "$L" --batch-size 64 --validation-split 0.1 --patience 2 --threads 2
check "  same as plain" same t2 p
check "plain, batch 100" run q plain --layers "lstm(8) dense(1)" --batch-size 100 --threads 2
check "-np 3, batch 100 (7 chunks)" run q3 3 --layers "lstm(8) dense(1)" --batch-size 100 --threads 1
check "  same as plain" same q3 q
# 40,901 parameters: the chain that sums the gradients (src/mpi/mpi.c) sends
# them in two segments; the same bytes again.
check "plain, lstm(100)" run w plain --layers "lstm(100) dense(1)" --batch-size 64 --epochs 2 --threads 1
check "-np 3, lstm(100)" run w3 3 --layers "lstm(100) dense(1)" --batch-size 64 --epochs 2 --threads 1
check "  same as plain" same w3 w
check "-np 2, lstm(100), the all-gather instead of the chain" \
    env RECUR_MPI_ALLGATHER=1 sh -c "$(command -v timeout) $LIMIT $MPIRUN -x RECUR_MPI_ALLGATHER -np 2 $R train \
    --data d.csv --timestep 20 --epochs 2 --seed 7 --out wa.st --quiet --layers 'lstm(100) dense(1)' --batch-size 64 \
    --threads 1 > /dev/null 2>&1"
check "  same as plain" cmp -s wa.st w.st
# Not trivially equal: another seed gives another file.
check "another seed differs" run s plain --layers "lstm(8) dense(1)" --batch-size 100 --threads 2 --seed 8
check "  (the comparison sees a difference)" sh -c '! cmp -s s.st q.st'
check "stdout only once, from rank 0" test "$(grep -c '^MAE' n3.out)" -eq 1
# A checkpoint of -np 2 resumed by -np 3 ends as one uninterrupted plain run.
check "plain, 4 epochs" run f plain --layers "lstm(8) dense(1)" --epochs 4
check "-np 2, 2 epochs with a checkpoint" run h 2 --layers "lstm(8) dense(1)" --epochs 2 --checkpoint c.ckpt
check "  -np 3 resumes it to 4 epochs" run r 3 --resume c.ckpt --epochs 4
check "  model = the plain run's" cmp -s r.st f.st

# ---- 2. a data file missing on rank 1
cp p.st old.st
cat > missing.sh << 'WRAP'
#!/bin/sh
if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then d=gone.csv; else d=d.csv; fi
exec "$@" --data "$d"
WRAP
timeout $LIMIT $MPIRUN -np 3 sh missing.sh "$R" train --timestep 20 --epochs 3 --out old.st --quiet > miss.out 2> miss.err
rc=$?
check "missing file on rank 1: exit 1 (got $rc)" test $rc -eq 1
check "  one error line on stderr" test "$(grep -c error miss.err)" -eq 1
check "  names the rank and the file" grep -q "^recur: error: rank 1 of 3 (.*): gone.csv: cannot open" miss.err
check "  --out unchanged" cmp -s old.st p.st

# ---- 3. a rank killed mid-training
cat > die.sh << 'WRAP'
#!/bin/sh
if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
    "$@" & pid=$!
    sleep 1
    kill -KILL $pid
    wait $pid
    exit
fi
exec "$@"
WRAP
t0=$(date +%s)
timeout $LIMIT $MPIRUN -np 2 sh die.sh "$R" train --data d.csv --timestep 20 --epochs 500 --out old.st --quiet \
    > die.out 2> die.err
rc=$?
t1=$(date +%s)
check "rank killed: non-zero exit (got $rc)" test $rc -ne 0 -a $rc -ne 124
check "  ends without waiting for the limit ($((t1 - t0)) s)" test $((t1 - t0)) -lt 60
check "  rank 0 says the others no longer answer" grep -q "^recur: error: rank 0 of 2 (.*): mpirun is ending" die.err
check "  --out unchanged" cmp -s old.st p.st

# ---- 4. Ctrl-C: SIGINT to mpirun once the first checkpoint is there. Open
# MPI then sends SIGCONT, SIGTERM 1 s later and SIGKILL 1 s after that; on a
# heavily loaded machine rank 0 has now and then not saved by the SIGKILL
# (docs/scaling.md), so up to 3 tries, one of which must save; no try may
# leave anything but no file or the right one.
interrupt() {
    rm -f ck.st int.st
    # (timeout passes the SIGINT on to mpirun, and ends a hang)
    timeout $LIMIT $MPIRUN -np 2 "$R" train --data d.csv --timestep 20 --epochs 50000 --seed 7 \
        --layers "lstm(8) dense(1)" --checkpoint ck.st --out int.st --quiet > int.out 2> int.err &
    mp=$!
    i=0
    while [ ! -f ck.st ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.5
    kill -INT $mp
    wait $mp
    rc=$?
    test $rc -ne 0 -a $rc -ne 124 || { echo "    exit status $rc"; return 2; }
    [ -f int.st ] || return 1
    # The epoch saved is the checkpoint's (rank 0's message may be lost: mpirun
    # closes the output pipes as it stops the job).
    e=$("$PLAIN" summary --model ck.st 2> /dev/null | sed -n 's/^Checkpoint: epoch \([0-9]*\) .*/\1/p')
    [ -n "$e" ] || { echo "    no epoch in the checkpoint"; return 2; }
    "$PLAIN" train --data d.csv --timestep 20 --epochs "$e" --seed 7 --layers "lstm(8) dense(1)" --out e.st \
        --quiet > /dev/null 2>&1 || return 2
    cmp -s int.st e.st || { echo "    int.st is not a plain run of $e epochs"; return 2; }
    return 0
}
saved=0 wrong=0
for try in 1 2 3; do
    interrupt
    case $? in 0) saved=1; break ;; 2) wrong=1; break ;; esac
done
check "Ctrl-C: rank 0 saved the last complete epoch (tries: $try)" test $saved -eq 1
check "  = a plain run of that many epochs, byte for byte; exit non-zero" test $wrong -eq 0

# ---- 5. other commands stay in one process
timeout $LIMIT $MPIRUN -np 2 "$R" summary --model p.st > sum.out 2> sum.err
rc=$?
check "summary under -np 2: usage error (got $rc)" test $rc -eq 2
check "  says why" grep -q 'only "recur train" and "recur backtest"' sum.err

# ---- 6. panels: the global model's ensemble and the backtest across ranks
awk 'BEGIN { print "unique_id,ds,y";
  for (s = 0; s < 4; s++) for (t = 1; t <= 120 - 10 * s; t++)
    printf "%s,%d,%.4f\n", substr("abcd", s + 1, 1), t, (10 + 30 * s) * (1 + 0.3 * sin(6.283185307 * t / 12)) + (t * 7919 % 13) / 13 }' > panel.csv
# pan NAME NP ARGS...: train on the panel to NAME.st (stdout NAME.out, stderr NAME.err)
pan() {
    name=$1 np=$2
    shift 2
    set -- train --data panel.csv --id-column unique_id --date-column ds --preset forecast --season 12 --horizon 4 \
        --epochs 3 --windows 256 --layers "lstm(6) dense(1)" --threads 1 --quiet --out "$name.st" "$@"
    case $np in
    plain) "$PLAIN" "$@" ;;
    *) timeout $LIMIT $MPIRUN -np "$np" "$R" "$@" ;;
    esac > "$name.out" 2> "$name.err"
}
check "panel, 3 seeds, plain" pan g plain --seeds 3
check "  -np 2 (a network each, the third data-parallel)" pan g2 2 --seeds 3
check "  same forecaster file" cmp -s g2.st g.st
check "  -np 3 (a network each)" pan g3 3 --seeds 3
check "  same forecaster file" cmp -s g3.st g.st
check "  (1 seed gives another file)" pan g1 plain --seeds 1
check "  (the comparison sees a difference)" sh -c '! cmp -s g1.st g.st'
# bt NAME NP ARGS...: backtest the panel, the table to NAME.out
bt() {
    name=$1 np=$2
    shift 2
    set -- backtest --id-column unique_id --date-column ds --season 12 --horizon 4 --stride 3 --refit 2 --epochs 2 \
        --layers "lstm(6) dense(1)" --seeds 2 --threads 1 --level 80,95 --quiet "$@"
    case $np in
    plain) "$PLAIN" "$@" --data panel.csv ;;
    *) timeout $LIMIT $MPIRUN -np "$np" "$R" "$@" --data panel.csv ;;
    esac > "$name.out" 2> "$name.err"
}
check "backtest with refits, plain" bt b plain
check "  has the model's row" grep -q '^model ' b.out
for np in 2 3; do
    check "  -np $np" bt b$np $np
    check "  same table" cmp -s b$np.out b.out
done
check "backtest --cold-refit, plain" bt c plain --cold-refit
check "  differs from warm refits" sh -c '! cmp -s c.out b.out'
for np in 2 3; do
    check "  -np $np (the fits spread over the ranks)" bt c$np $np --cold-refit
    check "  same table" cmp -s c$np.out c.out
done
check "backtest --json, plain" bt j plain --json
check "  -np 3 --json, same" bt j3 3 --json
check "  same JSON" cmp -s j3.out j.out
sed 's/d=d.csv/d=panel.csv/' missing.sh > missing-panel.sh
timeout $LIMIT $MPIRUN -np 2 sh missing-panel.sh "$R" backtest --id-column unique_id --horizon 4 --no-model > bm.out 2> bm.err
rc=$?
check "backtest, panel missing on rank 1: exit 1 (got $rc)" test $rc -eq 1
check "  one line from rank 0 naming the rank and the file" \
    sh -c 'test "$(wc -l < bm.err)" -eq 1 && grep -q "^recur: error: rank 1 of 2 (.*): gone.csv" bm.err'

echo "test_mpi.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
