# lib.sh -- set-up shared by the shell tests; sourced, not run.
#
# Counters and checks: ok, bad MESSAGE, check DESC COMMAND... (runs COMMAND,
# counts a pass or prints "FAIL: DESC"); each script prints
# "$pass passed, $fail failed" at its end.
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
