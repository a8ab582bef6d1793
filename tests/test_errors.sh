#!/bin/sh
# test_errors.sh -- every malformed input of the robustness issue, as a table:
# one row per case with the exit status and a piece of the message it must
# give. For each error the test asserts
#   - the exit status (1 runtime, 2 usage), so never a signal (>= 128) and
#     never a sanitizer report (which exits differently and adds lines);
#   - exactly one line on stderr, containing the expected text;
#   - that the existing model file given as --out is byte-identical afterwards
#     and that no temporary file (NAME.tmp.XXXXXX) is left in the folder.
# The inputs are generated in a temporary folder from the first rows of
# AAPL.csv; the "binary garbage" comes from a fixed-seed generator (awk), and
# the first 64 KiB of the recur executable stand in for an arbitrary binary.
#
# Usage: sh tests/test_errors.sh [path/to/recur]     (default: $BUILD/recur, build/recur)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_errors.sh "$1"

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-errors.XXXXXX") || exit 1
trap 'chattr -i "$T/ro" 2> /dev/null; chmod -R u+w "$T" 2> /dev/null; rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
export LC_ALL=C

skip=0

# ====== Fixtures ======

# Rows: header + 100 (2010-01-04 .. 2010-05-26); Date,Open,High,Low,Close,Adj Close,Volume.
head -n 101 "$SRC" > good.csv
QUICK="--layers lstm(4),dense(1) --epochs 1 --timestep 5 --quiet"
"$R" train --data good.csv $QUICK --out keep.st > /dev/null 2>&1 || { echo "test_errors.sh: cannot train the fixture model"; exit 1; }
cp keep.st keep.orig
"$R" train --data good.csv $QUICK --checkpoint ck.st --out ck-model.st > /dev/null 2>&1 || exit 1

# set_field FILE LINE FIELD VALUE < good.csv: one cell replaced.
set_field() { awk -F, -v l="$2" -v f="$3" -v v="$4" 'BEGIN { OFS = "," } NR == l { $f = v } { print }' good.csv > "$1"; }
: > empty.csv
head -n 1 good.csv > header.csv
set_field abc.csv 5 5 "abc"
set_field partial.csv 5 5 "12abc"
set_field nan.csv 7 5 "NaN"
set_field inf.csv 7 5 "inf"
set_field minf.csv 7 5 "-Infinity"
set_field huge.csv 7 5 "1e999"
set_field neg.csv 20 5 "-1"
set_field far.csv 90 5 "1e300"
awk -F, 'BEGIN { OFS = "," } NR == 10 { $5 = "1e308" } NR == 11 { $5 = "-1e308" } { print }' good.csv > wide.csv
set_field dup.csv 10 1 "2010-01-05"
set_field baddate.csv 10 1 "2010-13-45"
set_field notdate.csv 10 1 "yesterday"
awk -F, 'BEGIN { OFS = "," } NR == 9 { NF = 3 } { print }' good.csv > short.csv
awk 'NR == 9 { $0 = $0 ",1,2" } { print }' good.csv > long.csv
awk -F, 'BEGIN { OFS = "," } NR == 9 { $2 = "1,008.64" } { print }' good.csv > comma.csv
# A 5 MB field in the target column, a 5 MB line of 2.5 million fields, and a
# 5 MB quoted field in a column nobody asked for (which must load).
# (Each replaces line 4, 2010-01-06.)
{ head -n 3 good.csv; printf '2010-01-06,1,1,1,'; head -c 5000000 /dev/zero | tr '\0' '7'; printf ',1,1\n'
  tail -n +5 good.csv; } > bigfield.csv
{ head -n 3 good.csv; printf '2010-01-06,1,1,1,1,1,1'; head -c 2500000 /dev/zero | tr '\0' ',' | sed 's/,/,1/g'; printf '\n'
  tail -n +5 good.csv; } > bigline.csv
awk -F, 'BEGIN { OFS = "," } { $8 = NR == 1 ? "Note" : "" } { print }' good.csv > notes.csv
{ head -n 3 notes.csv; printf '2010-01-06,7.56,7.57,7.46,7.52,6.43,477131200,"'; head -c 5000000 /dev/zero | tr '\0' 'x'
  printf 'y, "" z"\n'; tail -n +5 notes.csv; } > bignote.csv
# Binary garbage: 64 KiB from a fixed-seed generator (no NUL), and the start of an executable (NULs).
awk 'BEGIN { x = 12345; for (i = 0; i < 65536; i++) { x = (x * 16807) % 2147483647; printf "%c", 1 + x % 255 } }' > garbage.csv
head -c 65536 "$R" > elf.csv
printf 'Date,Close\n2010-01-04,1\n2010-01-05,2\377\376\n' > utf8.csv
printf '\377\376D\000a\000t\000e\000\n\000' > utf16.csv
head -n 8 good.csv > few.csv
head -n 12 good.csv > twelve.csv
mkdir folder
touch afile.txt

# Model files: header length (u64 LE) + header + data, from pieces.
le64() { # n -> 8 bytes little-endian (n < 2^24)
    printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"
    printf '\000\000\000\000\000'
}
mkst() { # FILE TEXT: a file whose header is TEXT and which has no data
    le64 ${#2} > "$1"
    printf '%s' "$2" >> "$1"
}
size=$(wc -c < keep.st)
: > zero.st
head -c 100 keep.st > trunc-header.st
head -c $((size - 3)) keep.st > trunc-data.st
{ printf '\377\377\377\377\377\377\377\177'; tail -c +9 keep.st; } > absurd.st
{ printf '\000\000\000\000\000\000\000\000'; tail -c +9 keep.st; } > hlen0.st
mkst badjson.st 'not json at all'
mkst dupkey.st '{"a":1,"a":2}'
mkst nometa.st '{"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
mkst array.st '[1,2,3]'
sed 's/"format_version":"1"/"format_version":"9"/' keep.st > version.st
sed 's/"dtype":"F32"/"dtype":"F64"/' keep.st > dtype.st
sed 's/"dtype":"F32","shape":\[1,16\]/"dtype":"F32","shape":[16,1]/' keep.st > shape.st
sed 's/"lstm.bias"/"lstm.bian"/' keep.st > rename.st
printf 'Date,Open\n2010-01-04,1\n' > noclose.csv

# ====== The table ======

# t CODE NEEDLE DESC ARGS...: recur ARGS exits with CODE; for CODE != 0, one
# stderr line containing NEEDLE; keep.st untouched, no temporary files left.
# With FSIZE set, recur runs under ulimit -f $FSIZE.
t() {
    code=$1 needle=$2 desc=$3
    shift 3
    if [ -n "$FSIZE" ]; then
        (ulimit -f "$FSIZE" && exec "$R" "$@") > out.txt 2> err.txt
    else
        "$R" "$@" > out.txt 2> err.txt
    fi
    rc=$?
    if [ "$rc" -ne "$code" ]; then
        bad "$desc: exit $rc, want $code; stderr: $(head -c 300 err.txt)"
    elif [ "$code" -ne 0 ] && [ "$(wc -l < err.txt)" -ne 1 ]; then
        bad "$desc: want exactly one stderr line, got $(wc -l < err.txt): $(head -c 300 err.txt)"
    elif [ "$code" -ne 0 ] && ! grep -q -F -- "$needle" err.txt; then
        bad "$desc: stderr lacks '$needle': $(head -c 300 err.txt)"
    elif ! cmp -s keep.st keep.orig; then
        bad "$desc: the existing model keep.st was changed"
        cp keep.orig keep.st
    elif [ -n "$(find . -name '*.tmp.*')" ]; then
        bad "$desc: temporary files left: $(find . -name '*.tmp.*')"
        find . -name '*.tmp.*' -exec rm -f {} +
    else
        ok
    fi
}
TR="train $QUICK --out keep.st"

# --- CSV files (runtime errors, exit 1; the message names the file and, where there is one, the line)
t 1 'empty.csv: empty file' "empty file" $TR --data empty.csv
t 1 'header.csv: no data rows' "header only" $TR --data header.csv
t 1 'no column "Nope"; the header has: "Date", "Open"' "unknown column" $TR --data good.csv --column Nope
t 1 'no column "Nope"' "unknown feature" $TR --data good.csv --features Open,Nope
t 1 'abc.csv:5: column "Close": not a number ("abc")' "non-numeric field" $TR --data abc.csv
t 1 'partial.csv:5: column "Close": not a number ("12abc")' "partly numeric field" $TR --data partial.csv
t 1 'nan.csv:7: column "Close": missing value ("NaN"); use --missing drop or --missing ffill' "NaN" $TR --data nan.csv
t 1 'inf.csv:7: column "Close": infinite value ("inf")' "inf" $TR --data inf.csv
t 1 'minf.csv:7: column "Close": infinite value ("-Infinity")' "-Infinity" $TR --data minf.csv
t 1 'huge.csv:7: column "Close": number out of range ("1e999")' "1e999" $TR --data huge.csv
t 1 'short.csv:9: row has 3 fields but the header has 7, so column "Close" (field 5) is missing' "short row" \
    $TR --data short.csv
t 1 'long.csv:9: row has 9 fields but the header has 7' "long row" $TR --data long.csv
t 1 'comma.csv:9: row has 8 fields but the header has 7: a lost comma, or a comma inside an unquoted value' \
    "unquoted 1,008.64" $TR --data comma.csv
t 1 'bigfield.csv:4: column "Close": not a number ("7777' "5 MB field" $TR --data bigfield.csv
t 1 'bigline.csv:4: row has 2500007 fields but the header has 7' "5 MB line" $TR --data bigline.csv
t 0 '' "5 MB quoted field in a column not asked for loads" train $QUICK --data bignote.csv --out note.st
t 1 'garbage.csv:1: invalid UTF-8' "binary garbage" $TR --data garbage.csv
t 1 'elf.csv:1: NUL byte at offset' "binary with NUL bytes" $TR --data elf.csv
t 1 'utf8.csv:3: invalid UTF-8 (byte 0xFF' "invalid UTF-8" $TR --data utf8.csv
t 1 'utf16.csv: file is UTF-16; save it as UTF-8' "UTF-16" $TR --data utf16.csv
t 1 '/dev/zero:1: NUL byte at offset 0' "endless binary stream" $TR --data /dev/zero
t 1 'dup.csv:10: duplicate date "2010-01-05" (also on line 3); remove one of the two rows' "duplicate date" \
    $TR --data dup.csv
t 1 'baddate.csv:10: column "Date": not a date ("2010-13-45")' "impossible date" $TR --data baddate.csv
t 1 'notdate.csv:10: column "Date": not a date ("yesterday"); use YYYY-MM-DD' "unparsable date" \
    $TR --data notdate.csv
t 1 'neg.csv:20: column "Close": value -1 is not positive, so it has no log return' "log of a negative" \
    $TR --data neg.csv --transform logreturn
t 1 'wide.csv: training rows: feature 0 spans -1e+308 to 1e+308, too wide to scale; look for wrong values' \
    "values too far apart to scale" $TR --data wide.csv
t 1 'far.csv:90: column "Close": 1e+300 scales to' "a test value beyond the float range" $TR --data far.csv
t 1 'few.csv: 7 rows give 6 training rows' "fewer rows than timestep + horizon + 1" $TR --data few.csv
t 1 'use a shorter --timestep' "too few rows says what to do" $TR --data good.csv --timestep 90
t 1 'twelve.csv: 11 rows leave no test row' "test part too small to score" \
    $TR --data twelve.csv --test-fraction 0.01
t 1 'use a larger --test-fraction' "test part smaller than the horizon" \
    $TR --data twelve.csv --test-fraction 0.2 --horizon 3
t 1 'use a smaller --validation-split' "validation split leaves nothing to train" \
    $TR --data good.csv --validation-split 0.999
t 1 'nope.csv: cannot open: No such file or directory' "missing file" $TR --data nope.csv
t 1 'folder: is a directory, not a CSV file' "folder as data" $TR --data folder

# --- absurd options (usage errors, exit 2; the message names the option)
t 2 'recur train: --timestep: must be an integer >= 1 (got "0")' "timestep 0" $TR --data good.csv --timestep 0
t 2 '--layers: position 17: dropout rate must be a number in [0, 1) (got "1")' "dropout 1" \
    $TR --data good.csv --layers "lstm(4) dropout(1) dense(1)"
t 2 '--epochs: must be an integer >= 1 (got "-3")' "negative epochs" $TR --data good.csv --epochs -3
t 2 '--epochs: must be an integer from 1 to 1000000 (got "99999999999")' "enormous epochs" \
    $TR --data good.csv --epochs 99999999999
t 2 '--batch-size: must be an integer >= 1 (got "0")' "batch 0" $TR --data good.csv --batch-size 0
t 2 '--lr: must be a number > 0 (got "nan")' "lr NaN" $TR --data good.csv --lr nan
t 2 '--lr: must be a number > 0 (got "-0.1")' "lr negative" $TR --data good.csv --lr -0.1
t 2 '--lr: must be a number > 0 (got "1e999")' "lr overflow" $TR --data good.csv --lr 1e999
t 2 '--test-fraction: must be a number in (0, 1)' "test fraction 1" $TR --data good.csv --test-fraction 1
t 2 '--horizon: must be an integer >= 1 (got "0")' "horizon 0" $TR --data good.csv --horizon 0
t 2 '--threads: must be an integer from 0 to 4096 (got "-1")' "threads -1" $TR --data good.csv --threads -1
t 2 '--seed: must be an integer from 0 to 18446744073709551615 (got "x")' "seed x" $TR --data good.csv --seed x
t 2 '--layers: position 1: unknown layer "conv"' "unknown layer" $TR --data good.csv --layers "conv(4) dense(1)"
t 2 '--layers: position 7: unbalanced parentheses: "(" at position 5 is never closed' "unclosed parenthesis" $TR --data good.csv --layers "lstm(4"
t 2 '--layers: position 8: unbalanced parentheses: ")" without a matching "("' "extra parenthesis" \
    $TR --data good.csv --layers "lstm(4)) dense(1)"
t 2 '--layers: position 6: lstm units must be a whole number from 1 to 65536 (got "0")' "zero units" \
    $TR --data good.csv --layers "lstm(0) dense(1)"
t 2 '--layers: must not be empty' "empty spec" $TR --data good.csv --layers ""
t 2 'unknown option "--dropout"' "unknown option" $TR --data good.csv --dropout 0.2
t 2 '--data: missing value' "option without its value" train --out keep.st --data
t 2 '--data: missing (the CSV file to train on)' "no --data" train --out keep.st
t 2 '--missing: must be error, drop or ffill (got "zero")' "missing policy" $TR --data good.csv --missing zero

# --- outputs
t 1 '--out: folder "no/such" does not exist (create it first)' "--out in a missing folder" \
    train $QUICK --data good.csv --out no/such/m.st
t 1 '--out: "afile.txt" is a file, not a folder' "--out under a regular file" \
    train $QUICK --data good.csv --out afile.txt/m.st
t 1 '--out: "folder" is a folder, not a file' "--out is a folder" train $QUICK --data good.csv --out folder
t 1 '--checkpoint: folder "no/such" does not exist' "--checkpoint in a missing folder" \
    $TR --data good.csv --checkpoint no/such/c.st
t 2 '--out: "keep.st" is also the checkpoint' "--checkpoint = --out" $TR --data good.csv --checkpoint keep.st
t 1 '--plot-loss: folder "no/such" does not exist' "--plot-loss in a missing folder" \
    $TR --data good.csv --plot-loss no/such/l.png
t 1 '--history: folder "no/such" does not exist' "--history in a missing folder" \
    $TR --data good.csv --history no/such/h.csv
t 1 '--out: folder "no/such" does not exist' "predict --out in a missing folder" \
    predict --model keep.st --data good.csv --out no/such/p.csv
# A read-only folder: root writes into folders whatever their mode bits, so as
# root the folder is made immutable (chattr +i) when the file system allows it,
# else the case is skipped (the "under a regular file" case above fails the
# same way, ENOTDIR, whoever runs it).
mkdir ro
if [ "$(id -u)" -ne 0 ]; then
    chmod 555 ro
    t 1 '--out: folder "ro" is not writable' "--out in a read-only folder" train $QUICK --data good.csv --out ro/m.st
    chmod 755 ro
elif chattr +i ro 2> /dev/null; then
    t 1 '--out: folder "ro" is not writable' "--out in an immutable folder (root)" \
        train $QUICK --data good.csv --out ro/m.st
    chattr -i ro
else
    skip=$((skip + 1))
    echo "skipped: --out in a read-only folder (running as root and chattr +i is not supported here)"
fi

# A full disk, simulated by a file size limit (ulimit -f, in blocks of 512 or
# 1024 bytes: 20 blocks hold the small models, not an lstm(64)): the write
# fails with EFBIG (recur ignores SIGXFSZ), the old file stays.
BIG="train --data good.csv --layers lstm(64),dense(1) --epochs 2 --timestep 5 --quiet"
FSIZE=20
t 1 'cannot save "keep.st": File too large (writing)' "disk full while saving --out" $BIG --out keep.st
t 1 'cannot save "full.st": File too large (writing); training stopped after epoch 1' \
    "disk full while saving the checkpoint" $BIG --checkpoint full.st --out keep.st
FSIZE=
check "a failed checkpoint leaves no file" test ! -e full.st

# --- model files (runtime errors naming the file; the library test covers every other corruption)
E="evaluate --data good.csv --model"
t 1 'zero.st: file is empty' "zero-length model" $E zero.st
t 1 'trunc-header.st: header length' "model truncated in its header" $E trunc-header.st
t 1 'run past the end of the data' "model truncated in its data" $E trunc-data.st
t 1 'absurd.st: header length 9223372036854775807 is absurd' "absurd header length" $E absurd.st
t 1 'hlen0.st: header length 0 is absurd' "header length 0" $E hlen0.st
t 1 'badjson.st: header is not valid JSON' "invalid JSON" $E badjson.st
t 1 'dupkey.st: header is not valid JSON: duplicate object key' "duplicate JSON keys" $E dupkey.st
t 1 'array.st: header is not a JSON object' "JSON array header" $E array.st
t 1 'nometa.st: no __metadata__ in the header' "safetensors without metadata" $E nometa.st
t 1 'version.st: format_version "9" is not supported: this recur reads format_version "1"' "unknown version" \
    $E version.st
t 1 'dtype F64 is not supported' "wrong dtype" $E dtype.st
t 1 'has shape [16, 1] but the config' "wrong shape" $E shape.st
t 1 'tensor "lstm.bias" is missing (layer 0, lstm(4), needs it)' "renamed tensor" $E rename.st
t 1 'good.csv: header length' "a CSV given as the model" $E good.csv
t 1 'cannot read "folder": it is a folder' "folder as model" $E folder
t 1 'cannot open "nope.st": No such file or directory' "missing model" $E nope.st
t 1 'noclose.csv: no column "Close"; the header has: "Date", "Open"; model keep.st was trained on column "Close"' \
    "data without the model's columns" evaluate --model keep.st --data noclose.csv
t 1 'no column "Close"' "forecast on data without the model's columns" forecast --model keep.st --data noclose.csv
t 1 'header.csv: no data rows' "forecast on a header-only file" forecast --model keep.st --data header.csv
t 0 '' "a checkpoint is a model file too" $E ck.st

# --- resuming
t 1 'keep.st: no training state (__metadata__.checkpoint): a model file, not a checkpoint' "resume a model file" \
    train --data good.csv --resume keep.st --out out.st
t 1 'trunc-data.st:' "resume a truncated file" train --data good.csv --resume trunc-data.st --out out.st
t 2 '--lr: 0.01 differs from the checkpoint'"'"'s 0.001' "resume with another --lr" \
    train --data good.csv --resume ck.st --epochs 3 --lr 0.01 --out keep.st
t 2 '--layers: lstm(5) dense(1) differs from the checkpoint'"'"'s lstm(4) dense(1)' "resume with other layers" \
    train --data good.csv --resume ck.st --epochs 3 --layers "lstm(5) dense(1)" --out keep.st
t 2 '--epochs: checkpoint ck.st has done all its 1 epochs' "resume without more epochs" \
    train --data good.csv --resume ck.st --out keep.st
t 2 '--epochs: 1 is not more than the 1 epochs' "resume to fewer epochs" \
    train --data good.csv --resume ck.st --epochs 1 --out keep.st
t 1 'twelve.csv: its training rows are not the data checkpoint ck.st was trained on' "resume on other data" \
    train --data twelve.csv --resume ck.st --epochs 3 --quiet --out keep.st
"$R" train --data good.csv $QUICK --epochs 500 --patience 1 --checkpoint stopped.st --out stopped-model.st \
    > /dev/null 2>&1
t 1 'stopped.st: that training ended by early stopping after epoch' "resume an early-stopped run" \
    train --data good.csv --resume stopped.st --epochs 600 --out keep.st
head -n 91 good.csv > ninety.csv
t 1 'ninety.csv: its training rows are not the data checkpoint ck.st was trained on' "resume on shorter data" \
    train --data ninety.csv --resume ck.st --epochs 3 --quiet --out keep.st

# --- divergence: stops in the step it appears, writes nothing, says what to change
cp ck.st ck.orig
t 1 'training diverged at epoch 1, batch 2: the gradients or weights became NaN or infinite; nothing was saved (keep.st unchanged)' \
    "divergence" $TR --data good.csv --optimizer sgd --lr 1e20 --checkpoint ck.st
check "divergence suggests a lower --lr" grep -q -- "Rerun with a lower --lr (this run: 1e+20)" err.txt
check "divergence suggests --clipnorm" grep -q -- "--clipnorm 1.0" err.txt
check "divergence in epoch 1 leaves the checkpoint as it was" cmp -s ck.st ck.orig
t 1 'training diverged at epoch 2, batch 1' "divergence in epoch 2" \
    train --layers "lstm(4),dense(1)" --epochs 3 --timestep 5 --quiet --data good.csv --optimizer sgd --lr 1e10 \
    --checkpoint div.st --out keep.st
check "divergence names the checkpoint's epoch" grep -q "checkpoint div.st holds epoch 1" err.txt
"$R" summary --model div.st > out.txt 2> err.txt
check "the checkpoint of the last good epoch loads (epoch 1)" grep -q "^Checkpoint: epoch 1 of 3" out.txt

# --- the missing-value policy travels with the model
set_field nan2.csv 50 5 "null"
t 0 '' "train --missing drop" train $QUICK --data nan2.csv --missing drop --out drop.st
t 0 '' "evaluate uses the model's policy (drop)" evaluate --model drop.st --data nan2.csv
t 1 'nan2.csv:50: column "Close": missing value ("null")' "an explicit --missing overrides it" \
    evaluate --model drop.st --data nan2.csv --missing error
"$R" summary --model drop.st > out.txt 2>&1
check "summary shows the policy" grep -q "missing drop" out.txt

echo "$pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
