#!/bin/sh
# run.sh -- builds the libFuzzer targets and fuzzes each for a while.
#
# Usage: sh tests/fuzz/run.sh [csv] [model] [spec] [keras]   (default: all four)
#   FUZZ_SECONDS=600   time per target (CI smoke: 20)
#   FUZZ_NICE=19       run the fuzzers under `nice -n 19` (default: 0, no nice)
#   FUZZ_KEEP=DIR      keep each target's grown corpus and any crash in DIR/<target>
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined from the
# library sources (compiled once, into build-fuzz/lib) into build-fuzz/, then run on a COPY of its committed corpus
# (tests/fuzz/corpus_<target>) with its dictionary, so the committed corpus only
# changes by hand. libFuzzer first replays every committed input: an input that
# once crashed and was added to the corpus is a regression test each run.
# A crash, leak, sanitizer report or timeout fails the target: the input is
# kept (its path is printed) to be added to the corpus once fixed.
# Prints one line per target and "N passed, M failed"; exits non-zero on any failure.

cd "$(dirname "$0")/../.." || exit 1
SECS=${FUZZ_SECONDS:-600}
NICE=${FUZZ_NICE:-0}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
TARGETS=${*:-csv model spec keras}

if ! command -v "$CC" > /dev/null 2>&1; then
    echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
mkdir -p "$OUT" || exit 1

CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer \
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc"
# Jansson, and libhdf5 + libzip for the Keras files (src/io/keras_*.c, which
# recur_model_load calls too).
JANSSON_CFLAGS=$(pkg-config --cflags jansson hdf5 libzip 2>/dev/null)
JANSSON_LIBS=$(pkg-config --libs jansson hdf5 libzip 2>/dev/null || echo -ljansson -lhdf5 -lzip)
# The library without the plot module (PLplot is not needed by any target),
# compiled once for all the targets, two files at a time: under the
# sanitizers clang spends about 100 s on src/core/pgemm.c's unrolled kernels,
# which each target used to compile again.
LIB_SRC=$(ls src/core/*.c src/nn/*.c src/train/*.c src/data/*.c src/io/*.c | grep -v '^src/io/plot\.c$')
LIB_OBJ=$OUT/lib
OBJFLAGS=$(echo "$CFLAGS" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/')
rm -rf "$LIB_OBJ" && mkdir -p "$LIB_OBJ" || exit 1
export CC OBJFLAGS JANSSON_CFLAGS LIB_OBJ
# shellcheck disable=SC2016,SC2086
if ! printf '%s\n' $LIB_SRC | xargs -P 2 -n 1 sh -c \
    'exec $CC $OBJFLAGS $JANSSON_CFLAGS -c "$0" -o "$LIB_OBJ/$(echo "$0" | tr / _ | sed "s/\.c\$/.o/")"' \
    2> "$OUT/lib.build.log"; then
    echo "fuzz: library BUILD FAILED (see $OUT/lib.build.log)"
    exit 1
fi

pass=0
fail=0
for t in $TARGETS; do
    case $t in csv | model | spec | keras) ;; *)
        echo "fuzz: unknown target \"$t\" (csv, model, spec or keras)" >&2
        fail=$((fail + 1))
        continue
        ;;
    esac
    bin=$OUT/fuzz_$t
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS $JANSSON_CFLAGS "tests/fuzz/fuzz_$t.c" "$LIB_OBJ"/*.o $JANSSON_LIBS -lm -lpthread -o "$bin" \
        2> "$OUT/fuzz_$t.build.log"; then
        echo "fuzz_$t: BUILD FAILED (see $OUT/fuzz_$t.build.log)"
        fail=$((fail + 1))
        continue
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/recur-fuzz-$t.XXXXXX") || exit 1
    mkdir -p "$work/corpus" "$work/crash"
    cp tests/fuzz/corpus_$t/* "$work/corpus/"
    dict=""
    if [ -f "tests/fuzz/fuzz_$t.dict" ]; then dict="-dict=tests/fuzz/fuzz_$t.dict"; fi
    n0=$(ls "$work/corpus" | wc -l)
    # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: 2 GB is a blow-up.
    # tests/lsan.supp: leaks of libraries, not ours (libhdf5's on a failed open).
    # shellcheck disable=SC2086
    LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0 \
        nice -n "$NICE" "$bin" "$work/corpus" $dict -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/crash/" > "$work/log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    n1=$(ls "$work/corpus" | wc -l)
    found=$(ls "$work/crash" | wc -l)
    if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
        echo "fuzz_$t: ok, ${SECS}s, ${runs:-?} inputs run, corpus $n0 -> $n1"
        pass=$((pass + 1))
    else
        echo "fuzz_$t: FAILED (exit $rc), ${runs:-?} inputs run; log and input kept in $work"
        grep -m 3 -E "ERROR|runtime error|SUMMARY|deadly signal" "$work/log"
        ls "$work/crash" | sed "s|^|  input: $work/crash/|"
        fail=$((fail + 1))
    fi
    if [ -n "$FUZZ_KEEP" ]; then
        mkdir -p "$FUZZ_KEEP/$t" && cp -r "$work/corpus" "$work/crash" "$work/log" "$FUZZ_KEEP/$t/"
    fi
    if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then rm -rf "$work"; fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
