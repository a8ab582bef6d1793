#!/bin/sh
# test_kill.sh -- SIGKILL at random moments never leaves a broken model file.
#
# Trains a model big enough that writing it takes a while (lstm(128): about
# 0.5 MB of weights, 1 MB as a checkpoint) on tiny data, so that most of the
# time goes into the checkpoint written after every epoch and the final
# --out, and kills it with SIGKILL after a pseudo-random delay (fixed seed, 30
# runs). Before each run --out and --checkpoint hold valid files; after each
# kill each must be either byte-identical to what it was, or a complete file
# that loads (`recur summary` exits 0; the checkpoint also shows its
# "Checkpoint:" line). Writes go to NAME.tmp.XXXXXX in the same folder and are
# renamed over NAME only once complete and synced, so a kill can only leave
# such a temporary file behind: recur never reads those names (they end in
# .tmp.XXXXXX, never in the model's own name); the test counts them, checks
# that no model file is missing, and removes them. Finally the last checkpoint
# is resumed to show it is usable for what it is for.
#
# Usage: sh tests/test_kill.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_kill.sh "$1"
RUNS=${KILL_RUNS:-30}

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-kill.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
head -n 61 "$SRC" > tiny.csv # 60 rows: 48 training rows, 43 windows


ARGS="--data tiny.csv --layers lstm(128),dense(1) --timestep 5 --batch-size 16 --threads 1 --quiet"
# Valid files to start from.
"$R" train $ARGS --epochs 1 --seed 1 --checkpoint ck.st --out m.st > /dev/null 2>&1 || { echo "FAIL: setup"; exit 1; }

# Delays in seconds, from a fixed-seed generator: 0.000 .. 0.400.
DELAYS=$(awk -v n="$RUNS" 'BEGIN { x = 4242; for (i = 0; i < n; i++) { x = (x * 16807) % 2147483647; printf "%.3f\n", (x % 400) / 1000 } }')

# loads FILE [checkpoint]: 0 when recur reads FILE as a model (and as a checkpoint).
loads() {
    "$R" summary --model "$1" > sum.txt 2>&1 || return 1
    [ -z "$2" ] || grep -q "^Checkpoint: epoch" sum.txt
}

replaced_m=0
replaced_ck=0
temps=0
i=0
for d in $DELAYS; do
    i=$((i + 1))
    cp m.st m.old
    cp ck.st ck.old
    # Odd runs finish within the delays (the final --out is written), even runs go on.
    if [ $((i % 2)) -eq 1 ]; then epochs=4; else epochs=1000; fi
    "$R" train $ARGS --epochs $epochs --seed $i --checkpoint ck.st --out m.st > /dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -KILL "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    for f in m ck; do
        if [ ! -f $f.st ]; then
            bad "run $i (delay $d): $f.st is gone"
            cp $f.old $f.st
        elif cmp -s $f.st $f.old; then
            ok
        elif loads $f.st $([ $f = ck ] && echo checkpoint); then
            ok
            if [ $f = m ]; then replaced_m=$((replaced_m + 1)); else replaced_ck=$((replaced_ck + 1)); fi
        else
            bad "run $i (delay $d): $f.st is neither the old file nor a loadable one: $(head -c 200 sum.txt)"
            cp $f.old $f.st
        fi
    done
    n=$(find . -name '*.tmp.*' | wc -l)
    temps=$((temps + n))
    find . -name '*.tmp.*' -exec rm -f {} +
done
echo "kills: $RUNS; --out replaced by a new complete file $replaced_m times, checkpoint $replaced_ck times;" \
    "temporary files left by killed writes: $temps (removed)"
# The kills must have landed at different moments: some runs replaced the files, some did not.
if [ "$replaced_ck" -gt 0 ] && [ "$replaced_ck" -lt "$RUNS" ]; then ok; else bad "kills all landed alike"; fi

# The surviving checkpoint resumes.
"$R" summary --model ck.st > sum.txt 2>&1
epoch=$(sed -n 's/^Checkpoint: epoch \([0-9]*\) of.*/\1/p' sum.txt)
if [ -n "$epoch" ] && "$R" train --data tiny.csv --resume ck.st --epochs $((epoch + 1)) --out resumed.st --quiet \
    > /dev/null 2>&1 && loads resumed.st; then
    ok
else
    bad "the last checkpoint (epoch ${epoch:-?}) does not resume"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
