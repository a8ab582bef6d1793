# lib.sh -- set-up shared by the shell tests; sourced, not run.
#
# Counters and checks: ok, bad MESSAGE, check DESC COMMAND... (runs COMMAND,
# counts a pass or prints "FAIL: DESC"); each script prints
# "$pass passed, $fail failed" at its end. run and expect (below) run $R in
# the current folder.
#
# recur_setup NAME [path/to/recur]
#   sets R to the absolute path of the recur executable (default
#   $BUILD/recur, else build/recur) and SRC to the absolute path of AAPL.csv
#   (tests/data or data); prints a message naming NAME and exits 1 when
#   either is missing. Run from the repository root.
recur_setup() {
    _name=$1
    R=${2:-${BUILD:-build}/recur}
    case $R in /*) ;; *) R=$(pwd)/$R ;; esac
    if [ ! -x "$R" ]; then
        echo "$_name: no executable at $R (run make first)" >&2
        exit 1
    fi
    SRC=""
    for f in tests/data/AAPL.csv data/AAPL.csv; do
        if [ -r "$f" ]; then SRC=$(pwd)/$f; break; fi
    done
    if [ -z "$SRC" ]; then
        echo "$_name: no AAPL.csv in tests/data or data" >&2
        exit 1
    fi
}

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}
check() {
    desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}
# run ARGS...: runs recur ($R); sets rc, stdout in out.txt, stderr in err.txt
run() {
    "$R" "$@" > out.txt 2> err.txt
    rc=$?
}
# expect CODE NEEDLE DESC ARGS...: exit status CODE, and (NEEDLE not empty)
# exactly one line on stderr that contains NEEDLE.
expect() { expect_how 1 "$@"; }
# expect_in CODE NEEDLE DESC ARGS...: the same with NEEDLE anywhere on stderr
# (commands that log progress as well, such as training).
expect_in() { expect_how 0 "$@"; }
# expect_how ONE CODE NEEDLE DESC ARGS...: ONE = 1 wants the needle on the
# only stderr line, 0 anywhere on it.
expect_how() {
    one=$1 code=$2 needle=$3 desc=$4
    shift 4
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        bad "$desc: exit $rc, want $code; stderr: $(head -c 300 err.txt)"
    elif [ -n "$needle" ] && { { [ "$one" = 1 ] && [ "$(wc -l < err.txt)" -ne 1 ]; } || ! grep -q -- "$needle" err.txt; }; then
        if [ "$one" = 1 ]; then
            bad "$desc: want one stderr line with '$needle', got: $(head -c 300 err.txt)"
        else
            bad "$desc: want '$needle' on stderr, got: $(head -c 300 err.txt)"
        fi
    else
        ok
    fi
}
