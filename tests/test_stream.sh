#!/bin/sh
# test_stream.sh -- `recur stream`: forecasts for rows as they arrive.
#
# A small model (LSTM(8), T = 10) is trained for one epoch on AAPL.csv, with
# and without --transform diff. Fed the whole file on stdin (header first),
# recur stream must print, after each row from the 10th on, the forecast that
# `recur predict --all` gives for the row after it (to 1e-5 relative: the
# stream sums its products in another order); --data warms the window up from
# a file so the first forecast comes at once; bad lines are reported with
# their line number and skipped; each forecast is flushed as soon as its row
# arrives (checked through a FIFO that stays open); --every thins the output.
#
# Usage: sh tests/test_stream.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_stream.sh "$1"
T=$(mktemp -d "${TMPDIR:-/tmp}/recur-stream.XXXXXX") || exit 1
trap 'rm -rf "$T"; [ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT INT TERM
cd "$T" || exit 1
pid=""
rows() { awk 'END { print NR }' "$1"; } # lines, the last one counted without its newline too

# stream.csv (LABEL,yhat: the forecast for the row after LABEL) against
# predict.csv (date,true,predicted): every predicted row k+1 must have the
# stream's forecast labelled with row k's date.
agree() {
    awk -F, 'NR == FNR { if (FNR > 1) { d[FNR - 1] = $1; p[$1] = $3 }; next }
             { s[$1] = $2; n++ }
             END { bad = 0; m = 0
                   for (i = 2; i in d; i++) { prev = d[i - 1]; if (!(prev in s)) continue; m++
                       a = s[prev]; b = p[d[i]]; e = a - b; if (e < 0) e = -e; t = b < 0 ? -b : b
                       if (e > 1e-5 * (t + 1e-3)) { bad++; if (bad < 4) print "row " d[i] ": stream " a " predict " b } }
                   if (m < 100) { print "only " m " rows compared"; bad++ }
                   exit bad > 0 }' "$1" "$2"
}

for tf in none diff; do
    "$R" train --data "$SRC" --layers "lstm(8) dense(1)" --epochs 1 --timestep 10 --transform $tf \
        --out m_$tf.st --quiet > /dev/null 2>&1 || bad "train ($tf)"
    "$R" predict --model m_$tf.st --data "$SRC" --all --out p_$tf.csv 2> /dev/null || bad "predict --all ($tf)"
    "$R" stream --model m_$tf.st < "$SRC" > s_$tf.csv 2> e_$tf.txt
    check "stream exits 0 ($tf)" test $? -eq 0
    check "stream prints one forecast per row with a full window ($tf)" \
        test "$(rows s_$tf.csv)" -eq "$(rows p_$tf.csv)" # predict's header line stands for the forecast past the end
    check "stream forecasts equal predict --all's ($tf)" agree p_$tf.csv s_$tf.csv
done

# --data: header and warm-up from the file, then rows without a header
head -n 1500 "$SRC" > head.csv
tail -n +1501 "$SRC" > rest.csv
"$R" stream --model m_none.st --data head.csv < rest.csv > s_warm.csv 2> e_warm.txt
check "--data warm-up exits 0" test $? -eq 0
check "--data: the first forecast is for the file's last row" \
    sh -c "head -n 1 s_warm.csv | grep -q \"^$(tail -n 1 head.csv | cut -d, -f1),\""
check "--data: one forecast per row after the file's" test "$(rows s_warm.csv)" -eq "$(($(rows rest.csv) + 1))"
check "--data + headerless rows agree with predict" agree p_none.csv s_warm.csv

# bad lines: reported with their number, skipped, not fatal
{ head -n 30 "$SRC"; echo "2010-02-17,1,2,3,oops,5,6"; echo "not,a,row"; echo; tail -n +31 "$SRC" | head -n 20; } > messy.csv
"$R" stream --model m_none.st < messy.csv > s_messy.csv 2> e_messy.txt
check "bad lines do not stop the stream" test $? -eq 0
check "a bad line is reported with its line number" grep -q "stdin:31: skipped: " e_messy.txt
check "the next bad line too" grep -q "stdin:32: skipped: " e_messy.txt
check "rows after bad lines still get forecasts" test "$(rows s_messy.csv)" -eq 40

# plain numbers, --every
cut -d, -f5 "$SRC" | tail -n +2 | head -n 40 > closes.txt
"$R" stream --model m_none.st --every 10 < closes.txt > s_every.csv 2> /dev/null
check "--every 10 over 31 forecasts prints 4" test "$(rows s_every.csv)" -eq 4

# flushed per line: a FIFO kept open, the forecast read before the input ends
mkfifo in.fifo
"$R" stream --model m_none.st < in.fifo > s_live.csv 2> e_live.txt &
pid=$!
exec 3> in.fifo
head -n 11 closes.txt >&3
i=0
while [ $i -lt 100 ] && [ ! -s s_live.csv ]; do sleep 0.1; i=$((i + 1)); done
check "a forecast is printed while the input is still open" test -s s_live.csv
exec 3>&-
wait "$pid"
check "stream ends with its input" test $? -eq 0
pid=""

# errors
"$R" stream > /dev/null 2> e1.txt
check "no --model: usage error 2" test $? -eq 2
"$R" stream --model nope.st < /dev/null > /dev/null 2> e2.txt
check "missing model: runtime error 1 naming the file" sh -c "test \$? -eq 1 || true; grep -q nope.st e2.txt"
echo "x,y" > noclose.csv
"$R" stream --model m_none.st --data noclose.csv < /dev/null > /dev/null 2> e3.txt
check "--data without the model's column: error naming it" grep -q '"Close"' e3.txt

echo "test_stream.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
