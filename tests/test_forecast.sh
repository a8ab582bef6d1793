#!/bin/sh
# test_forecast.sh -- the forecasting-evaluation commands end to end:
# `recur convert` (M4 wide to long), `recur score` on a small panel whose
# scores are computed by hand below, `recur backtest` against R's figures,
# and every user error of these commands: exit status (1 runtime, 2 usage)
# and exactly one line on stderr containing the expected text.
#
# Usage: sh tests/test_forecast.sh [path/to/recur]  (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_forecast.sh "$1"
AIR=$(pwd)/tests/data/airpassengers.csv

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-forecast.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
export LC_ALL=C

# expect DESC STATUS TEXT COMMAND...: exit status STATUS, one stderr line with TEXT.
expect() {
    desc=$1 want=$2 text=$3
    shift 3
    "$@" > out.txt 2> err.txt
    got=$?
    lines=$(wc -l < err.txt)
    if [ "$got" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qF -- "$text" err.txt; then
        ok
    else
        bad "$desc: exit $got (want $want), stderr: $(cat err.txt)"
    fi
}
# has DESC TEXT FILE: FILE contains TEXT.
has() {
    if grep -qF -- "$2" "$3"; then ok; else bad "$1: no \"$2\" in $(cat "$3")"; fi
}

# ====== Fixtures ======
# Two series, M4 layout. Training values H1: 1 2 3 4, H2: 10 12; test H1: 5 6, H2: 11 13.
printf '"V1","V2","V3","V4","V5"\n"H1","1","2","3","4"\n"H2","10","12",,\n' > train.csv
printf '"V1","V2","V3"\n"H1","5","6"\n"H2","11","13"\n' > test.csv
# Forecasts H1: 4, 8 (bands [3,5], [7,9]); H2: 11, 11 (bands [10,12] twice).
cat > fc.csv << 'EOF'
unique_id,ds,yhat,lo95,hi95
H1,5,4,3,5
H1,6,8,7,9
H2,3,11,10,12
H2,4,11,10,12
EOF

# ====== score: hand-computed ======
# Errors |5-4| = 1, |6-8| = 2, |11-11| = 0, |13-11| = 2: MAE 5/4 = 1.25,
# RMSE sqrt(9/4) = 1.5. MASE scales (m = 1): H1 mean|diff| = 1, H2 = 2; per
# series MAE 1.5 and 1: MASE (1.5/1 + 1/2)/2 = 1. sMAPE: H1 100 (1/9 + 2/14)
# = 25.3968..., H2 100 (0 + 2/24) = 8.3333...; mean 16.86507937. Coverage: 5
# in [3,5], 11 in [10,12] yes; 6, 13 no: 0.5. Naive: H1 4, 4; H2 12, 12:
# errors 1, 2, 1, 1: MAE 1.25; MASE (1.5 + 1/2)/2 = 1.
"$R" score --actual test.csv --train train.csv --forecast fc.csv --json > score.json 2> err.txt
check "score exits 0" [ $? -eq 0 ]
has "score forecast" '"forecast":{"n":4,"mae":1.25,"rmse":1.5,' score.json
has "score forecast smape/mase/coverage" '"smape":16.86507937,"mase":1.0,"coverage95":0.5}' score.json
has "score naive" '"naive":{"n":4,"mae":1.25,' score.json
has "score season" '"season":1' score.json
"$R" score --actual test.csv --train train.csv --forecast fc.csv > score.txt 2> err.txt
has "score table" "forecast        4       1.25        1.5" score.txt

# Long actual and train files (recur convert) give the same scores.
"$R" convert --m4 train.csv --out train_long.csv 2> /dev/null
"$R" convert --m4 test.csv --after train.csv --out test_long.csv 2> /dev/null
printf 'unique_id,ds,y\nH1,1,1\nH1,2,2\nH1,3,3\nH1,4,4\nH2,1,10\nH2,2,12\n' > want_train.csv
check "convert train" cmp -s train_long.csv want_train.csv
has "convert --after continues the steps" "H2,3,11" test_long.csv
"$R" score --actual test_long.csv --train train_long.csv --forecast fc.csv --json > score2.json 2> err.txt
check "score on long files" cmp -s score.json score2.json

# ====== score: errors ======
head -n 4 fc.csv > fc_short.csv
expect "forecast with a missing step" 1 'fc_short.csv: series "H2" has 1 forecast steps, but test.csv has 2 values' \
    "$R" score --actual test.csv --train train.csv --forecast fc_short.csv
head -n 3 fc.csv > fc_noid.csv
expect "forecast without a series" 1 'fc_noid.csv has no series "H2" (it is in test.csv)' \
    "$R" score --actual test.csv --train train.csv --forecast fc_noid.csv
sed 's/^H2,4,11,/H2,4,NaN,/' fc.csv > fc_nan.csv
expect "NaN forecast" 1 'fc_nan.csv:5: column "yhat": missing value ("NaN")' \
    "$R" score --actual test.csv --train train.csv --forecast fc_nan.csv
{ cat fc.csv; echo "H9,1,1,0,2"; } > fc_extra.csv
expect "forecast id unknown to actual" 1 'fc_extra.csv: series "H9" is not in test.csv' \
    "$R" score --actual test.csv --train train.csv --forecast fc_extra.csv
head -n 2 train.csv > train_h1.csv
expect "actual id unknown to train" 1 'train_h1.csv has no series "H2" (it is in test.csv)' \
    "$R" score --actual test.csv --train train_h1.csv --forecast fc.csv
printf 'H1,5,4,3,5\n' > fc_nohead.csv
expect "forecast file without the id column" 1 'no id column "unique_id"' \
    "$R" score --actual test.csv --train train.csv --forecast fc_nohead.csv
expect "score: --actual missing" 2 "recur score: --actual: missing" \
    "$R" score --train train.csv --forecast fc.csv
expect "score: --level absent from the file" 2 "--level: fc.csv has no columns lo80 and hi80" \
    "$R" score --actual test.csv --train train.csv --forecast fc.csv --level 80
expect "score: unreadable file" 1 "nope.csv: cannot open" \
    "$R" score --actual nope.csv --train train.csv --forecast fc.csv

# Dated files: each forecast step must be for the date of the value it is scored against.
printf 'unique_id,date,y\nA,2020-01-01,1\nA,2020-01-02,2\nA,2020-01-03,3\n' > dtrain.csv
printf 'unique_id,date,y\nA,2020-01-04,4\nA,2020-01-05,5\n' > dtest.csv
printf 'unique_id,date,yhat\nA,2020-01-04,3\nA,2020-01-05,7\n' > dfc.csv
# Season 5 (business days) is longer than the 3 training values: seasonal naive is left out with a warning.
"$R" score --actual dtest.csv --train dtrain.csv --forecast dfc.csv --json > dscore.json 2> err.txt
has "score on dated files" '"forecast":{"n":2,"mae":1.5,' dscore.json
has "score on dated files: snaive left out" '"snaive":{"n":0,' dscore.json
has "score: the warning" 'recur: warning: snaive left out: dtrain.csv: series "A": seasonal naive needs a full season of history: 3 values, season 5' err.txt
printf 'unique_id,date,yhat\nA,2020-01-05,3\nA,2020-01-06,7\n' > dfc_late.csv
expect "forecast dated a step late" 1 'dfc_late.csv: series "A": forecast step 1 is for 2020-01-05, but the actual value 1 in dtest.csv is for 2020-01-04' \
    "$R" score --actual dtest.csv --train dtrain.csv --forecast dfc_late.csv

# ====== backtest ======
# R forecast 8.20 (../shared/data/README.md): naive MAE 44.7241 (MASE 1.5203),
# seasonal naive 41.3103 (MASE 1.4043) over 29 origins.
"$R" backtest --data "$AIR" --horizon 1 --season 12 --no-model --json > bt.json 2> err.txt
check "backtest exits 0" [ $? -eq 0 ]
has "backtest origins" '{"n_origins":29,"horizon":1,"season":12,' bt.json
has "backtest naive (R)" '"naive":{"n":29,"mae":44.72413793,' bt.json
has "backtest naive MASE (R)" '"mase":1.5203' bt.json
has "backtest snaive (R)" '"snaive":{"n":29,"mae":41.31034483,' bt.json
has "backtest best" '"best":"snaive"' bt.json
"$R" backtest --data "$AIR" --horizon 3 --no-model --plot bt.png > bt.txt 2> err.txt
has "backtest table, season inferred" "horizon 3, season 12" bt.txt
has "backtest per-step table" "MASE by step:" bt.txt
check "backtest plot written" [ -s bt.png ]
# The model method runs (a tiny one: a few seconds).
"$R" backtest --data "$AIR" --horizon 2 --epochs 2 --seeds 1 --threads 1 --json -q > btm.json 2> err.txt
has "backtest with the model" '"methods":{"model":{"n":56,' btm.json
# A panel: the long file from convert, every series scored.
i=1; { echo "unique_id,ds,y"; while [ $i -le 40 ]; do echo "A,$i,$((i % 4 + i))"; echo "B,$i,$((2 * i))"; i=$((i + 1)); done; } > panel.csv
"$R" backtest --data panel.csv --id-column unique_id --horizon 2 --season 4 --no-model --json > btp.json 2> err.txt
has "backtest panel: 2 series x 7 origins" '"n_origins":14' btp.json
has "backtest panel: drift exact on B" '"best":"drift"' btp.json

# The library example (examples/backtest.c) gives the same R figures.
EX=$(dirname "$R")/examples/backtest
if [ -x "$EX" ]; then
    "$EX" "$AIR" > ex.txt 2> err.txt
    has "examples/backtest: seasonal naive (R)" "snaive  MAE 41.3103  MASE 1.4043" ex.txt
else
    bad "examples/backtest: no executable at $EX (run make)"
fi

# ====== backtest: errors ======
expect "horizon longer than the test part" 1 "--horizon 40 is longer than the test part of series \"passengers\"" \
    "$R" backtest --data "$AIR" --horizon 40 --no-model
expect "season larger than the data" 1 "--season 200 is larger than the training part" \
    "$R" backtest --data "$AIR" --horizon 1 --season 200 --no-model
expect "unknown id column" 1 'no id column "series"' \
    "$R" backtest --data panel.csv --id-column series --horizon 1 --no-model
{ cat panel.csv; echo "A,5,3"; } > dup.csv
expect "duplicate (id, time)" 1 'dup.csv:82: duplicate row for series "A" at time 5 (also on line 10)' \
    "$R" backtest --data dup.csv --id-column unique_id --horizon 1 --no-model
grep -v '^B,7,' panel.csv > gap.csv
expect "gap in the integer index" 1 'series "B" jumps from step 6 to 8' \
    "$R" backtest --data gap.csv --id-column unique_id --horizon 1 --no-model
expect "--refit bad" 2 "--refit" "$R" backtest --data "$AIR" --horizon 1 --refit sometimes
expect "--window bad" 2 "--window" "$R" backtest --data "$AIR" --horizon 1 --window rolling
expect "--level bad" 2 "--level" "$R" backtest --data "$AIR" --horizon 1 --level 80,100
expect "--horizon missing" 2 "--horizon: missing" "$R" backtest --data "$AIR"
expect "convert: --m4 missing" 2 "--m4: missing" "$R" convert --out x.csv
printf 'id,v\nA,x\n' > notm4.csv
expect "convert: not an M4 file" 1 'notm4.csv:2: series "A", value 1 (field 2): not a number ("x")' \
    "$R" convert --m4 notm4.csv --out x.csv

echo "test_forecast.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
