#!/bin/sh
# test_forecaster.sh -- `recur train` / `recur forecast` on a panel: a small
# long CSV of three seasonal series (one with dates would need a calendar;
# these use an integer step index, as M4 does) plus a short one, trained with
# tiny settings so the file runs in seconds.
#
# Usage: sh tests/test_forecaster.sh [path/to/recur]
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_forecaster.sh "$1"

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-fc.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1

# Series a, b, c: 150 hourly-like values, period 12, levels 10, 50, 90; d: 12 values.
awk 'BEGIN { print "unique_id,ds,y";
  for (s = 0; s < 3; s++) for (t = 1; t <= 150; t++)
    printf "%s,%d,%.4f\n", substr("abc", s + 1, 1), t, (10 + 40 * s) * (1 + 0.3 * sin(6.283185307 * t / 12));
  for (t = 1; t <= 12; t++) printf "d,%d,%d\n", t, t }' > panel.csv

QUICK="--preset forecast --season 12 --horizon 6 --seeds 2 --epochs 3 --windows 256 --layers lstm(8),dense(1)"

# ====== train ======
expect_in 0 "season 12 (given)" "train on a panel prints the data summary" \
    train --data panel.csv --id-column unique_id --date-column ds --column y $QUICK --out fc.safetensors
check "training progress per network and epoch" grep -q "network 2/2 epoch 3/3" err.txt
check "the short series is named in a warning" grep -q "skipped: d" err.txt
check "the forecaster file is written" test -s fc.safetensors
expect_in 0 "season 1 (inferred" "an integer index infers season 1 and says so" \
    train --data panel.csv --id-column unique_id --date-column ds --horizon 2 --seeds 1 --epochs 1 \
    --timestep 8 --layers "gru(4) dense(1)" --out tut.safetensors

# ====== forecast ======
expect_in 0 "" "forecast with two levels" \
    forecast --model fc.safetensors --data panel.csv --steps 6 --level 80,95 --out fc.csv --plot fc.svg --plot-id b
check "header unique_id,ds,yhat,lo80,hi80,lo95,hi95" test "$(head -1 fc.csv)" = "unique_id,ds,yhat,lo80,hi80,lo95,hi95"
check "3 series x 6 steps (d was skipped)" test "$(tail -n +2 fc.csv | wc -l)" -eq 18
check "ds continues the index: a's steps are 151..156" test "$(grep -c '^a,15[1-6],' fc.csv)" -eq 6
check "lo95 <= lo80 <= yhat <= hi80 <= hi95 on every row" \
    awk -F, 'NR > 1 && !($6 <= $4 && $4 <= $3 && $3 <= $5 && $5 <= $7) { exit 1 }' fc.csv
check "the plot is an SVG" grep -q "<svg" fc.svg
check "the skipped series is reported" grep -q "too short" err.txt
expect_in 0 "" "plots of two series" \
    forecast --model fc.safetensors --data panel.csv --level 95 --out fc2.csv --plot two.png --plot-id a,c
check "one PNG per series, named by id" test -s two-a.png -a -s two-c.png -a ! -e two.png
expect_in 2 "no series \"zz\"" "--plot-id of an unknown series" \
    forecast --model fc.safetensors --data panel.csv --plot p.png --plot-id a,zz
expect_in 0 "" "forecast to stdout, fewer steps, no levels" forecast --model fc.safetensors --data panel.csv --steps 2
check "stdout has unique_id,ds,yhat and 3 x 2 rows" \
    test "$(head -1 out.txt)" = "unique_id,ds,yhat" -a "$(wc -l < out.txt)" -eq 7

# ====== errors ======
expect_in 2 "more than the horizon 6" "steps beyond the horizon" \
    forecast --model fc.safetensors --data panel.csv --steps 7
expect_in 2 "--level" "a level of 100" forecast --model fc.safetensors --data panel.csv --level 100
awk 'NR == 1 || /^a,/' panel.csv | sed 's/^a,/zz,/' > other.csv
expect_in 1 "unknown series \"zz\"" "an id the forecaster never saw" \
    forecast --model fc.safetensors --data other.csv
expect_in 1 "every series is too short" "a horizon longer than every series" \
    train --data panel.csv --id-column unique_id --date-column ds --horizon 200 --preset forecast --out x.safetensors
expect_in 2 "--season" "a season longer than the data" \
    train --data panel.csv --id-column unique_id --date-column ds --season 500 --out x.safetensors
printf 'unique_id,ds,y\na,1,1\na,1,2\n' > dup.csv
expect_in 1 "dup.csv" "duplicate (id, time) rows" train --data dup.csv --id-column unique_id --date-column ds --out x.safetensors
expect_in 1 "forecaster" "recur predict refuses a forecaster file" predict --model fc.safetensors --data panel.csv
head -n 301 "$SRC" > single.csv
run train --data single.csv --epochs 1 --layers "lstm(4) dense(1)" --quiet --out single.safetensors
expect_in 2 "need a forecaster" "--level with a single-series model" \
    forecast --model single.safetensors --data single.csv --level 80
expect_in 2 "--preset" "an unknown preset" train --data panel.csv --preset fast --out x.safetensors

echo "test_forecaster.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
