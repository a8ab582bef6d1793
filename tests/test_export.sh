#!/bin/sh
# test_export.sh -- `recur export --c` end to end on real data: the tutorial
# model trained 1 epoch on data/AAPL.csv (and a GRU on --transform diff),
# exported, compiled with gcc and clang (-std=c99 -Wall -Wextra -Werror
# -pedantic), its self-test run, and its pipeline + predict + unscale on every
# test row compared with `recur predict` (10 significant digits) to 1e-6
# relative. Then the refusals: each a one-line error and a non-zero exit,
# nothing left behind.
#
# Usage: sh tests/test_export.sh [path/to/recur]
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
recur_setup test_export.sh "$1"

T=$(mktemp -d "${TMPDIR:-/tmp}/recur-export.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1

# The Close column of AAPL.csv (oldest first, as the file is), one value a line.
awk -F, 'NR > 1 { print $5 }' "$SRC" > close.txt

# drv.c for NAME: selftest, then for the last N rows of close.txt (argv[1]) the
# model's prediction in data units, as recur predict computes it.
driver() {
    up=$(echo "$1" | tr 'a-z' 'A-Z')
    sed "s/@@/$up/g; s/@/$1/g" > drv.c <<'EOF'
#include "@.h"
#include <stdio.h>
#include <stdlib.h>
static double v[100000];
int main(int argc, char **argv)
{
    int n = 0, want = argc > 1 ? atoi(argv[1]) : 0, r;
    float win[@@_TIMESTEPS * @@_FEATURES], out[@@_OUTPUT_SIZE];
    double val[@@_OUTPUTS];
    if (@_selftest() != 0) return 3;
    while (n < 100000 && scanf("%lf", &v[n]) == 1) n++;
    for (r = n - want; r < n; r++) {
        if (r - @@_RAW_ROWS < 0 || @_scale_input(v + r - @@_RAW_ROWS, win) != 0) return 4;
        @_predict(win, out);
        @_unscale_output(out, v[r - 1], val);
        printf("%.10g\n", val[0]);
    }
    return 0;
}
EOF
}

# export_check DESC NAME TRAIN-ARGS...: train 1 epoch, export, build, compare.
export_check() {
    what=$1 name=$2
    shift 2
    if ! "$R" train --data "$SRC" --column Close --epochs 1 --quiet --out "$name.safetensors" "$@" > /dev/null 2> err.txt; then
        bad "$what: train failed: $(head -c 300 err.txt)"
        return
    fi
    mkdir -p "c_$name"
    expect 0 "wrote c_$name/$name.h" "$what: export" export --model "$name.safetensors" --c "c_$name"
    check "$what: NAME.h and NAME.c and nothing else" test "$(ls "c_$name" | tr '\n' ' ')" = "$name.c $name.h "
    "$R" predict --model "$name.safetensors" --data "$SRC" 2> /dev/null | awk -F, 'NR > 1 { print $3 }' > want.txt
    n=$(wc -l < want.txt)
    for cc in gcc clang; do
        if ! command -v $cc > /dev/null 2>&1; then
            echo "SKIP: $what: $cc not installed"
            continue
        fi
        (cd "c_$name" && driver "$name" &&
            $cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -o drv drv.c "$name.c" -lm) 2> cc.txt
        check "$what: $cc compiles the generated code cleanly ($(head -c 200 cc.txt))" test ! -s cc.txt
        "c_$name/drv" "$n" < close.txt > got.txt
        check "$what: $cc: selftest passes and every test row is predicted" test $? -eq 0
        check "$what: $cc: $n predictions" test "$(wc -l < got.txt)" -eq "$n"
        # 1e-6 relative, plus the 10-digit rounding of both columns
        worst=$(paste want.txt got.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1);
                                              if (r > w) w = r } END { printf "%.3g", w + 0 }')
        echo "  $what ($cc): $n test rows, largest relative difference to recur predict $worst"
        check "$what: $cc: within 1e-6 of recur predict (largest $worst)" \
            awk -v w="$worst" 'BEGIN { exit !(w <= 1.1e-6) }'
    done
}

# ====== Real models ======

export_check "tutorial" aapl
export_check "gru, diff" gdiff --transform diff --layers "gru(16,seq) gru(8,reset_before) dense(1)"

# ====== Re-export replaces the files ======

expect 0 "wrote" "re-export over existing files" export --model aapl.safetensors --c c_aapl --name aapl
check "re-export: no temporary files left" test "$(ls c_aapl | grep -c tmp)" -eq 0
mkdir def
expect 0 "wrote def/aapl.h and def/aapl.c" "default name from the model file's name" export --model aapl.safetensors --c def

# ====== Refusals ======

mkdir -p out
expect 2 "--model: missing" "no --model" export --c out
expect 2 "--c or --keras: missing" "no output option" export --model aapl.safetensors
expect 2 "--name: only with --c" "--name without --c" export --model aapl.safetensors --name x
expect 2 "--timestep" "bad --timestep" export --model aapl.safetensors --c out --timestep 0
expect 2 "unknown option" "unknown option" export --model aapl.safetensors --c out --bogus
expect 1 "nope.safetensors" "missing model file" export --model nope.safetensors --c out
expect 1 "not a C identifier" "name with a dash" export --model aapl.safetensors --c out --name my-model
expect 1 "not a C identifier" "name starting with a digit" export --model aapl.safetensors --c out --name 9lives
expect 1 "does not exist" "missing folder" export --model aapl.safetensors --c no/such/dir
expect 1 "is a file, not a folder" "folder is a file" export --model aapl.safetensors --c close.txt
expect 1 "cannot create \"/proc/x.h\"" "unwritable folder" export --model aapl.safetensors --c /proc --name x
chmod 555 out
if [ ! -w out ]; then
    expect 1 "not writable" "read-only folder" export --model aapl.safetensors --c out --name ro
fi
chmod 755 out
check "refusals leave no file behind" test "$(ls out | wc -l)" -eq 0
printf 'not a model' > junk.safetensors
expect 1 "junk.safetensors" "a file that is not a model" export --model junk.safetensors --c out

echo "test_export.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
