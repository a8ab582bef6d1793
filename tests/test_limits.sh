#!/bin/sh
# test_limits.sh -- a series of a million rows trains, in memory proportional
# to the data.
#
# Generates a 1,000,000-row random walk (fixed seed, ~15 MB of CSV), trains a
# tiny model for one epoch with T = 10 and checks that it ran over every row.
# Where GNU time is installed, the peak memory must stay under 250 MB: the
# table costs ~40 bytes a row (value, day, date text, line number), the
# windows T*F*4 = 40 bytes a row, the text of the file ~16 bytes a row, so
# ~100 MB is expected (measured: 98 MB). Not checked for a sanitizer build,
# whose shadow memory and quarantine change the picture.
#
# Usage: sh tests/test_limits.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_limits.sh "$1"
T=$(mktemp -d "${TMPDIR:-/tmp}/recur-limits.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1


awk 'BEGIN { x = 100; s = 7; print "day,Close"
             for (i = 1; i <= 1000000; i++) { s = (s * 16807) % 2147483647; x += s / 2147483647 - 0.5; printf "%d,%.4f\n", i, x } }' \
    > walk.csv
ARGS="train --data walk.csv --layers rnn(4),dense(1) --epochs 1 --timestep 10 --transform diff --out w.st"
if /usr/bin/time -f %M true > /dev/null 2>&1 && ! grep -q __asan_init "$R"; then
    /usr/bin/time -o rss.txt -f %M "$R" $ARGS > out.txt 2> err.txt
    rc=$?
    rss=$(tail -n 1 rss.txt)
    echo "1,000,000 rows: peak memory ${rss} kB"
    if [ "$rc" -eq 0 ] && [ "$rss" -lt 250000 ]; then ok; else bad "peak memory ${rss} kB (exit $rc), want < 250000"; fi
else
    "$R" $ARGS > out.txt 2> err.txt
    rc=$?
fi
if [ "$rc" -eq 0 ]; then ok; else bad "1,000,000 rows: exit $rc: $(head -c 300 err.txt)"; fi
if grep -q "walk.csv: 1000000 rows" err.txt; then ok; else bad "the data line does not count 1000000 rows"; fi
if grep -q "^Test: 200000 windows" out.txt; then ok; else bad "not scored on 200000 test windows"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
