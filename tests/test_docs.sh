#!/bin/sh
# test_docs.sh -- the figures the docs quote come from the current code.
#
# Trains the tutorial model as the README's demo and docs/cli.md's `recur
# train` example do (data/AAPL.csv, 50 epochs, seed 42; ~15-25 s) and checks
# that the score block both documents print - "Test: ..." to the verdict
# line - is, line for line, what the program prints now. Skipped (with a
# line saying so) in a sanitizer build, where 50 epochs take minutes.
#
# Usage: sh tests/test_docs.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_docs.sh "$1"
ROOT=$(pwd)
if grep -q __asan_init "$R" 2>/dev/null; then
    echo "test_docs.sh: SKIP: a sanitizer build takes minutes for the 50 epochs (make test checks the figures)"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/recur-docs.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

# The score block of a document: from its first "Test: 503 windows" line to
# the verdict after it.
block() {
    awk '/^Test: 503 windows/ { on = 1 } on { print } on && /^The model / { exit }' "$1"
}

"$R" train --data "$ROOT/data/AAPL.csv" --epochs 50 --quiet --out "$T/aapl.safetensors" > "$T/out.txt" 2> "$T/err.txt"
check "the tutorial trains (recur train --data data/AAPL.csv --epochs 50)" test $? -eq 0
for doc in README.md docs/cli.md; do
    block "$ROOT/$doc" > "$T/doc.txt"
    if [ ! -s "$T/doc.txt" ]; then
        bad "$doc: no score block (Test: 503 windows ... The model ...) found"
    elif cmp -s "$T/doc.txt" "$T/out.txt"; then
        ok
    else
        bad "$doc: its score block differs from what recur prints now:"
        diff "$T/doc.txt" "$T/out.txt" | sed 's/^/    /'
    fi
done

echo "test_docs.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
