#!/bin/sh
# run.sh -- make bench-m4: the M4 competition's Hourly set (414 series, horizon
# 48, season 24) end to end with the commands docs/forecasting.md gives:
#   1. the wide training file as a long panel file (bench/m4/m4.c long)
#   2. recur train ... --preset forecast        (timed: wall, peak memory)
#   3. recur forecast ... --level 95            (timed)
#   4. sMAPE, MASE and 95% coverage on the test file with the M4 formulas,
#      beside the competition's own table (../shared/data/README.md).
# Usage: sh bench/m4/run.sh [BUILD]     M4_DIR overrides ../shared/data/m4.
set -e
BUILD=${1:-build}
ROOT=$(pwd)
M4=${M4_DIR:-$ROOT/../shared/data/m4}
R=$ROOT/$BUILD/recur
TOOL=$ROOT/$BUILD/bench/m4
W=$ROOT/$BUILD/bench-m4
for f in "$M4/Hourly-train.csv" "$M4/Hourly-test.csv"; do
    [ -r "$f" ] || { echo "bench-m4: $f not found (set M4_DIR)" >&2; exit 1; }
done
mkdir -p "$W"
cd "$W"
echo "== M4 Hourly: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
"$TOOL" long "$M4/Hourly-train.csv" hourly.csv

# timed NAME CMD...: runs CMD under /usr/bin/time -v when there is one; prints wall seconds and peak MB.
timed() {
    name=$1
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v "$@" 2> "$name.err" || { tail -5 "$name.err" >&2; exit 1; }
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$name.err" |
            awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
        kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$name.err")
        printf '%-8s %8.1f s wall  %7.1f MB peak\n' "$name" "$wall" "$(echo "$kb" | awk '{ print $1 / 1024 }')" >> times.txt
    else
        "$@" 2> "$name.err"
    fi
}
: > times.txt
timed train "$R" train --data hourly.csv --id-column unique_id --date-column ds --column y \
    --horizon 48 --season 24 --preset forecast --out m4h.safetensors
grep -E "recipe|saved" train.err || true
timed forecast "$R" forecast --model m4h.safetensors --data hourly.csv --steps 48 --level 95 --out fc.csv
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
cat times.txt
awk '{ s += $2 } END { printf "total    %8.1f s wall\n", s }' times.txt
echo
"$TOOL" score fc.csv "$M4/Hourly-test.csv" "$M4/Hourly-train.csv" 24 > score.txt
cat score.txt
echo "cross-check with recur score (the library's scores, with the baselines):"
"$R" score --actual "$M4/Hourly-test.csv" --forecast fc.csv --train "$M4/Hourly-train.csv" --season 24 2> /dev/null |
    grep -E "^(method|forecast|snaive) "
echo
echo "| method                                   | sMAPE  | MASE  | 95% coverage |"
echo "| ---------------------------------------- | ------ | ----- | ------------ |"
awk '{ for (i = 1; i < NF; i++) { if ($i == "sMAPE") s = $(i+1); if ($i == "MASE") m = $(i+1); if ($i == "coverage95") c = $(i+1) } }
     END { printf "| recur --preset forecast (this run)       | %6.3f | %5.3f | %12.3f |\n", s, m, c }' score.txt
cat <<'TABLE'
| best entry (Doornik et al.)              |  8.913 | 0.801 |              |
| winner overall, Smyl's ES-RNN            |  9.328 | 0.893 |              |
| 2nd overall, FFORMA                      | 11.506 | 0.819 |              |
| MLP benchmark                            | 13.842 | 2.607 |              |
| seasonal naive                           | 13.912 | 1.193 |              |
| RNN benchmark                            | 14.698 | 3.048 |              |
| Theta                                    | 18.138 | 2.455 |              |
| naive                                    | 43.003 | 11.608|              |
TABLE
