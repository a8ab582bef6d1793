#!/bin/sh
# test_cli.sh -- end-to-end tests of the `recur` command line on small real
# data (the first 400 rows of AAPL), with tiny models and 2 epochs so the whole
# file runs in seconds.
#
# Usage: sh tests/test_cli.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_cli.sh "$1"
NSEI=$(pwd)/tests/data/NSEI.csv

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
head -n 401 "$SRC" > small.csv   # header + 400 rows: 2010-01-04 .. 2011-08-03

json_num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$2"; }
SMALL="--epochs 2 --layers lstm(8),dense(1) --quiet --seed 7"

# ====== train, evaluate, predict, forecast ======

expect 0 "" "train" train --data small.csv $SMALL --out m.safetensors --plot-loss loss.png --history hist.csv
cp out.txt train.txt
check "train writes the model" test -s m.safetensors
check "train prints test scores" grep -q "^MAE" train.txt
check "train names the baseline" grep -q "naive baseline" train.txt
check "train --plot-loss" test -s loss.png
check "train --history has 2 epochs" test "$(wc -l < hist.csv)" -eq 3
check "train --quiet prints no progress" test -z "$(grep Epoch err.txt)"

expect 0 "" "evaluate" evaluate --model m.safetensors --data small.csv
check "evaluate prints what train printed" cmp -s out.txt train.txt
check "evaluate table" grep -q "persistence" out.txt
check "evaluate warns about the range" grep -q "warning: test values of Close rise" err.txt

expect 0 "" "evaluate --json" evaluate --model m.safetensors --data small.csv --json
cp out.txt eval.json
for key in n_test mae rmse mape naive_mae naive_rmse naive_mape beats_baseline out_of_range_above out_of_range_below; do
    check "json key $key" grep -q "\"$key\":" eval.json
done
check "json is one line" test "$(wc -l < eval.json)" -eq 1
check "json n_test = 80" test "$(json_num n_test eval.json)" = 80
# Persistence computed here independently: test rows 320..399, yhat[t] = y[t-1].
naive=$(awk -F, 'NR > 1 { y[NR - 2] = $5 } END { for (t = 320; t < 400; t++) { d = y[t] - y[t - 1]; s += d < 0 ? -d : d } printf "%.6f", s / 80 }' small.csv)
got=$(json_num naive_mae eval.json)
check "naive_mae $got = awk $naive" awk -v a="$got" -v b="$naive" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }'
check "out_of_range_above > 0" awk -v a="$(json_num out_of_range_above eval.json)" 'BEGIN { exit !(a > 1) }'

expect 0 "" "predict" predict --model m.safetensors --data small.csv
cp out.txt pred1.csv
check "predict rows = n_test + header" test "$(wc -l < pred1.csv)" -eq 81
check "predict header" test "$(head -n 1 pred1.csv)" = "date,true,predicted"
check "predict first test date" grep -q "^2011-04-11,11.814286," pred1.csv
expect 0 "" "predict again" predict --model m.safetensors --data small.csv
check "reload gives identical predictions" cmp -s out.txt pred1.csv
expect 0 "" "predict --out --plot" predict --model m.safetensors --data small.csv --out p.csv --plot p.png
check "predict --out = stdout" cmp -s p.csv pred1.csv
check "predict --plot" test -s p.png
check "no temp files left" test -z "$(ls | grep '\.tmp\.')"
expect 0 "" "predict --all" predict --model m.safetensors --data small.csv --all --out all.csv
check "predict --all rows = 400 - 60 + header" test "$(wc -l < all.csv)" -eq 341
check "--all ends with the test rows" test "$(tail -n 80 all.csv)" = "$(tail -n 80 pred1.csv)"

expect 0 "" "forecast" forecast --model m.safetensors --data small.csv --steps 3
check "forecast skips the weekend" test "$(cut -d, -f1 out.txt | tr '\n' ' ')" = "date 2011-08-04 2011-08-05 2011-08-08 "
expect 0 "" "plot" plot --model m.safetensors --data small.csv --out plot.svg
check "plot svg" grep -q "<svg" plot.svg
expect 0 "" "plot --history" plot --history hist.csv --out hist.png
check "plot --history png" test -s hist.png

# ====== summary ======

expect 0 "" "summary of the tutorial spec" summary --layers "lstm(50,seq) dropout(0.2) lstm(100) dropout(0.2) dense(1)"
for n in "10,400" "60,400" " 101" "70,901"; do
    check "summary shows $n" grep -q -- "$n" out.txt
done
expect 0 "" "summary --model" summary --model m.safetensors
check "summary --model shows 329 params" grep -q "329" out.txt
check "summary --model shows the pipeline" grep -q "timestep 60" out.txt

# ====== horizon, transform, features ======

expect 0 "" "train --horizon 3 widens dense(1)" train --data small.csv $SMALL --horizon 3 --transform diff --out h3.safetensors
expect 0 "" "evaluate horizon 3" evaluate --model h3.safetensors --data small.csv --json
check "json steps for horizon 3" grep -q '"steps":\[' out.txt
expect 0 "" "forecast 7 steps recursively" forecast --model h3.safetensors --data small.csv --steps 7
check "forecast 7 lines" test "$(wc -l < out.txt)" -eq 8
expect 2 "end the spec with dense(3)" "horizon mismatch" train --data small.csv --epochs 1 --layers "lstm(4) dense(2)" --horizon 3 --out x.safetensors
expect 0 "" "train --features" train --data small.csv $SMALL --features Open,High --timestep 10 --out mv.safetensors
expect 2 "--steps: this model reads 3 columns" "multivariate forecast steps" forecast --model mv.safetensors --data small.csv --steps 2
expect 0 "" "multivariate forecast 1 step" forecast --model mv.safetensors --data small.csv --steps 1
expect 0 "" "train logreturn standard adam mae" train --data small.csv $SMALL --transform logreturn --scaler standard --optimizer adam --lr 0.01 --loss mae --clipnorm 1 --validation-split 0.2 --patience 1 --out lr.safetensors

# ====== usage errors: exit 2, one line naming the option ======

expect 2 'unknown option "--bogus"' "unknown option" train --data small.csv --out x.safetensors --bogus
expect 2 '--timestep: must be an integer >= 1 (got "0")' "timestep 0" train --data small.csv --out x --timestep 0
expect 2 '--epochs: must be an integer >= 1 (got "-1")' "epochs -1" train --data small.csv --out x --epochs -1
expect 2 '--epochs:' "epochs 2.5" train --data small.csv --out x --epochs 2.5
expect 2 '--lr: must be a number > 0 (got "nan")' "lr nan" train --data small.csv --out x --lr nan
expect 2 '--lr:' "lr inf" train --data small.csv --out x --lr inf
expect 2 '--lr:' "lr 1e999" train --data small.csv --out x --lr 1e999
expect 2 '--batch-size: must be an integer >= 1 (got "0")' "batch 0" train --data small.csv --out x --batch-size 0
expect 2 '--batch-size:' "batch 12abc" train --data small.csv --out x --batch-size 12abc
expect 2 '--test-fraction: must be a number in (0, 1)' "test fraction 1" train --data small.csv --out x --test-fraction 1
expect 2 '--validation-split:' "validation split" train --data small.csv --out x --validation-split -0.1
expect 2 '--optimizer: must be rmsprop, adam, sgd or rmsprop-keras2' "optimizer" train --data small.csv --out x --optimizer adagrad
expect 2 '--seed:' "seed -1" train --data small.csv --out x --seed -1
expect 2 '--threads:' "threads x" train --data small.csv --out x --threads x
expect 2 '--layers: position 14: unknown layer "lstn"' "unknown layer" train --data small.csv --out x --layers "lstm(50,seq) lstn(100)"
expect 2 '--layers: position 7: unbalanced parentheses' "unclosed" train --data small.csv --out x.safetensors --layers "lstm(5" --epochs 1
expect 2 '--data: missing' "missing --data" train --out x.safetensors
expect 2 '--out: missing' "missing --out" train --data small.csv
expect 2 '--data: missing value' "no value" train --out x --data
expect 2 'unexpected argument "extra"' "positional" train --data small.csv --out x extra
expect 2 '--model: missing' "evaluate without model" evaluate --data small.csv
expect 2 '--steps: must be an integer from 1 to 100000 (got "0")' "steps 0" forecast --model m.safetensors --data small.csv --steps 0
expect 2 '--layers:' "summary bad spec" summary --layers "dense(0)"
expect 2 'unknown command "trian"' "unknown command" trian
expect 2 "" "no command" 

# ====== runtime errors: exit 1, one line ======

expect 1 "nope.csv" "missing file" train --data nope.csv --out x.safetensors $SMALL
expect 1 "Nope" "unknown column" train --data small.csv --column Nope --out x.safetensors $SMALL
expect 1 'folder "no/such/dir" does not exist' "output folder missing" train --data small.csv --out no/such/dir/m.safetensors $SMALL
expect 1 "no/such" "predict output folder missing" predict --model m.safetensors --data small.csv --out no/such/p.csv
expect 1 "small.csv" "not a model file" evaluate --model small.csv --data small.csv
expect 1 "missing.safetensors" "missing model" evaluate --model missing.safetensors --data small.csv
printf 'Date,Open\n2010-01-04,1\n' > noclose.csv
expect 1 "Close" "data without the model's column" evaluate --model m.safetensors --data noclose.csv
if [ -r "$NSEI" ]; then
    expect 1 "null" "NSEI null rows refused" train --data "$NSEI" --out x.safetensors $SMALL
    expect 0 "" "NSEI --missing drop" train --data "$NSEI" --missing drop --out nsei.safetensors $SMALL
fi

# ====== help and version ======

for c in train evaluate predict forecast plot summary compare demo; do
    expect 0 "" "$c --help" "$c" --help
    check "$c --help has an example" grep -q "Example" out.txt
    if [ "$c" = train ]; then
        check "train --help lists options with defaults" grep -q -- "--batch-size N.*(default: 64)" out.txt
    fi
done
expect 0 "" "help train" help train
expect 0 "" "--version" --version
check "version text" grep -q "^recur [0-9]" out.txt

# ====== signals: Ctrl-C saves the last complete epoch and exits 130 (more in test_resume.sh) ======

"$R" train --data small.csv --epochs 1000000 --layers "lstm(4) dense(1)" --quiet --out int.safetensors > /dev/null 2> int.err &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
check "SIGINT exits 130 (got $rc)" test "$rc" -eq 130
check "SIGINT saves the model" test -s int.safetensors
check "SIGINT message" grep -q "interrupted by SIGINT" int.err
expect 0 "" "interrupted model evaluates" evaluate --model int.safetensors --data small.csv

# ====== the default target column in other exports ======

# A Nasdaq export has "Close/Last", no "Close": train takes it and says so;
# its persistence MAE is the one ../shared/data/README.md computes (25.1016).
GOOG=$(dirname "$NSEI")/GOOG_nasdaq.csv
run train --data "$GOOG" --epochs 1 --layers "lstm(4),dense(1)" --out goog.safetensors
check "train on a Nasdaq export without --column (exit $rc)" test "$rc" -eq 0
check "it says it uses Close/Last" grep -q 'note: .*has no column "Close"; using "Close/Last" as the close' err.txt
check "the Nasdaq close is scored against its persistence (25.1016)" grep -q "^MAE .* 25.1016$" out.txt
expect 0 "" "evaluate finds the model's Close/Last again" evaluate --model goog.safetensors --data "$GOOG"
expect 1 'no column "Close"' "an explicit --column Close is not replaced" \
    train --data "$GOOG" --column Close --epochs 1 --quiet --out goog2.safetensors

# ====== compare and demo, tiny ======

expect 0 "" "compare" compare --data small.csv --epochs 1 --seeds 1 --batch-size 128 --out cmp --quiet
for m in lstm gru rnn mlp persistence; do
    check "compare row $m" grep -q "^$m " out.txt
done
check "compare csv" test "$(wc -l < cmp/compare.csv)" -eq 5
check "compare png" test -s cmp/compare.png
expect 0 "" "demo" demo --data small.csv --epochs 2 --out demo --quiet
for f in model.safetensors predictions.csv prediction.png loss.png; do
    check "demo writes $f" test -s "demo/$f"
done
check "demo says whether it beat the baseline" grep -q "naive baseline" out.txt

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
