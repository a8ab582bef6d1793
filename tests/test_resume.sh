#!/bin/sh
# test_resume.sh -- determinism, checkpoints, resuming and interruption at the
# command line, compared byte for byte (cmp) on the model files.
#
#  - Determinism: the same seed, data and options give the same model file and
#    the same predictions run after run, with --threads 1, 2 and 0 (all cores).
#  - Resume: train --epochs 4 == train --epochs 2 --checkpoint C, then
#    train --resume C --epochs 4: same model file, and the same checkpoint file
#    (weights, optimizer state and training state) as the straight run's.
#    Dropout, shuffling, validation and early-stopping state are in play.
#  - SIGINT during training: exit 130, one line saying how to resume; --out
#    holds the last complete epoch N (== a straight --epochs N run, byte for
#    byte), and resuming to N+2 == a straight --epochs N+2 run. SIGTERM: 143.
#  - SIGINT before any epoch completed: nothing written, --out untouched.
#
# Usage: sh tests/test_resume.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_resume.sh "$1"

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-resume.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
head -n 201 "$SRC" > data.csv

# train ARGS...: quiet training on data.csv with the options $M; stderr kept in err.txt.
train() { "$R" train --data data.csv $M --quiet "$@" > /dev/null 2> err.txt; }
# resume ARGS...: the same without $M (a resumed run takes the checkpoint's options).
resume() { "$R" train --data data.csv --quiet "$@" > /dev/null 2> err.txt; }
# epoch_of FILE: the epoch a checkpoint holds.
epoch_of() { "$R" summary --model "$1" 2> /dev/null | sed -n 's/^Checkpoint: epoch \([0-9]*\) of.*/\1/p'; }

M="--layers gru(6,seq),dropout(0.2),lstm(5),dense(1) --timestep 10 --batch-size 16 --seed 11 --validation-split 0.2 --patience 3"

# ====== Determinism ======

check "train (threads 1)" train --epochs 3 --threads 1 --out t1.st
check "train again (threads 1)" train --epochs 3 --threads 1 --out t1b.st
check "train (threads 2)" train --epochs 3 --threads 2 --out t2.st
check "train (threads 0: every core)" train --epochs 3 --threads 0 --out t0.st
check "same seed, same model file" cmp -s t1.st t1b.st
check "--threads 2 gives the same model file as --threads 1" cmp -s t1.st t2.st
check "--threads 0 gives the same model file as --threads 1" cmp -s t1.st t0.st
"$R" predict --model t1.st --data data.csv --all --out p1.csv 2> /dev/null
"$R" predict --model t2.st --data data.csv --all --out p2.csv 2> /dev/null
check "same predictions" cmp -s p1.csv p2.csv
check "train --seed 12" train --epochs 3 --threads 1 --seed 12 --out s12.st
check "another seed gives another model" sh -c "! cmp -s t1.st s12.st"

# ====== Resume from a checkpoint ======

check "straight 4 epochs with checkpoints" train --epochs 4 --checkpoint straight.ck --out straight.st
check "2 epochs with checkpoints" train --epochs 2 --checkpoint half.ck --out half.st
check "the checkpoint holds epoch 2" test "$(epoch_of half.ck)" = 2
cp half.ck half-copy.ck
check "resume to 4 epochs" resume --resume half.ck --epochs 4 --out resumed.st
check "resumed model == straight model, byte for byte" cmp -s resumed.st straight.st
check "resumed checkpoint == straight checkpoint (weights, optimizer, state)" cmp -s half.ck straight.ck
check "a checkpoint file is not a model file" sh -c "! cmp -s straight.ck straight.st"
check "a resumed run checkpoints into its checkpoint (now epoch 4)" test "$(epoch_of half.ck)" = 4
check "resume with the same options spelled out" train --resume straight.ck --epochs 5 --out five.st
check "resume --threads 2 into another checkpoint" resume --resume half-copy.ck --checkpoint half2.ck --epochs 4 \
    --threads 2 --out resumed2.st
check "resume --checkpoint leaves the resumed file alone" test "$(epoch_of half-copy.ck)" = 2
check "resumed with another thread count == straight" cmp -s resumed2.st straight.st
check "no temporary files left" test -z "$(find . -name '*.tmp.*')"

# ====== SIGINT and SIGTERM ======

# Waits (at most ~20 s) until checkpoint $1 holds at least epoch $2.
wait_epoch() {
    n=0
    while [ $n -lt 400 ]; do
        e=$(epoch_of "$1")
        if [ -n "$e" ] && [ "$e" -ge "$2" ]; then return 0; fi
        sleep 0.05
        n=$((n + 1))
    done
    return 1
}

M="--layers lstm(6),dense(1) --timestep 10 --batch-size 16 --seed 5 --transform diff"
"$R" train --data data.csv $M --epochs 1000000 --checkpoint int.ck --out int.st --quiet > /dev/null 2> int.err &
pid=$!
wait_epoch int.ck 2
kill -INT "$pid"
wait "$pid"
rc=$?
check "SIGINT exits 130 (got $rc)" test "$rc" -eq 130
check "SIGINT: one line on stderr" test "$(grep -c -v 'recur: warning:' int.err)" -eq 1
check "SIGINT says how to resume" grep -q "continue with: recur train --resume int.ck --data data.csv --out int.st" int.err
N=$(epoch_of int.ck)
check "SIGINT names the saved epoch" grep -q "saved epoch $N (the last complete one) to int.st and int.ck" int.err
check "straight $N epochs" train --epochs "$N" --out n.st
check "--out after SIGINT == a straight run of the last complete epoch" cmp -s int.st n.st
check "straight $((N + 2)) epochs" train --epochs $((N + 2)) --out n2.st
check "resume after SIGINT" resume --resume int.ck --epochs $((N + 2)) --out r2.st
check "resumed after SIGINT == straight, byte for byte" cmp -s r2.st n2.st

"$R" train --data data.csv $M --epochs 1000000 --checkpoint term.ck --out term.st --quiet > /dev/null 2> term.err &
pid=$!
wait_epoch term.ck 1
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM exits 143 (got $rc)" test "$rc" -eq 143
check "SIGTERM message" grep -q "interrupted by SIGTERM; saved epoch" term.err
check "SIGTERM: --out loads" "$R" summary --model term.st > /dev/null 2>&1

# Interrupted as soon as training starts (the summary, printed just before,
# is on stderr; a background job of a script ignores SIGINT until recur sets
# its handler for training): if no epoch completed, nothing is written.
cp n.st early.st
"$R" train --data "$SRC" --layers "lstm(256),dense(1)" --threads 1 --epochs 5 --out early.st \
    > /dev/null 2> early.err &
pid=$!
n=0
while [ $n -lt 400 ] && ! grep -q "^Spec:" early.err; do
    sleep 0.05
    n=$((n + 1))
done
sleep 0.1
kill -INT "$pid"
wait "$pid"
rc=$?
check "early SIGINT exits 130 (got $rc)" test "$rc" -eq 130
if grep -q "before the first epoch completed; nothing was saved (early.st unchanged)" early.err; then
    check "early SIGINT leaves --out untouched" cmp -s early.st n.st
    [ -z "$VERBOSE" ] || echo "early SIGINT: before the first epoch"
else
    check "early SIGINT after an epoch: --out loads" "$R" summary --model early.st > /dev/null 2>&1
fi
check "no temporary files left" test -z "$(find . -name '*.tmp.*')"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
