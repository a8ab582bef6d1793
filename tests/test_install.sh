#!/bin/sh
# test_install.sh -- recur installs like a C library.
#
# `make install` into a temporary DESTDIR, then examples/forecast.c is built
# against the installed files with `pkg-config --cflags --libs recur` alone
# and run (1 epoch: its persistence line must read 0.6009 over 503 days):
#   - shared: the program needs librecur.so.<major>, found through the soname;
#   - static: a SHARED=0 install has librecur.a alone, linked with `--static`.
# Also: the .so exports nothing but recur_*, the man pages exist for recur and
# each command, recur --version and recur_version() agree with the header,
# and `make uninstall` removes every file it installed.
#
# Usage: sh tests/test_install.sh MAKE BUILD   (run from the repository root;
# EXTRA_LDFLAGS, e.g. the sanitizers', are added when linking the program)
# Prints "N passed, M failed" and exits non-zero when anything failed.

. "$(dirname "$0")/lib.sh"
MAKE=${1:-make}
BUILD=${2:-build}
ROOT=$(pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/recur-install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
CC=${CC:-cc}
if ! command -v pkg-config > /dev/null; then
    echo "test_install.sh: pkg-config is missing (sh scripts/deps.sh installs it)" >&2
    exit 1
fi
VERSION=$(sed -n 's/^#define RECUR_VERSION "\(.*\)"/\1/p' include/recur.h)
MAJOR=${VERSION%%.*}

# Builds the example against the install under $1 (pkg-config flags $2...) as $1/fc.
build_example() {
    dest=$1
    shift
    flags=$(PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig" pkg-config --define-prefix "$@" recur) || return 1
    # shellcheck disable=SC2086
    $CC -std=c11 -o "$dest/fc" "$ROOT/examples/forecast.c" $flags $EXTRA_LDFLAGS
}
runs_example() {
    out=$(LD_LIBRARY_PATH="$1/usr/local/lib" "$1/fc" "$ROOT/data/AAPL.csv" 1) &&
        echo "$out" | grep -q "test MAE .* vs persistence 0.6009 over 503 days"
}

# ---- shared ----
S=$T/shared
if $MAKE -s install BUILD="$BUILD" DESTDIR="$S" > "$T/install.log" 2>&1; then ok; else
    bad "make install DESTDIR=$S"
    cat "$T/install.log"
fi
for f in bin/recur include/recur.h lib/librecur.a lib/librecur.so "lib/librecur.so.$MAJOR" "lib/librecur.so.$VERSION" \
    lib/pkgconfig/recur.pc share/man/man1/recur.1 share/man/man1/recur-train.1 share/man/man1/recur-forecast.1; do
    check "installed $f" test -e "$S/usr/local/$f"
done
check "man page recur-train.1 is a man page with the --data option" \
    grep -q -e '--data' "$S/usr/local/share/man/man1/recur-train.1"
check "every command has its man page" sh -c '
    for c in $("$1" --help | sed -n "/^Commands:/,/^\$/s/^  \([a-z][a-z]*\) .*/\1/p"); do
        test -s "$2/recur-$c.1" || { echo "no recur-$c.1"; exit 1; }; done' sh "$S/usr/local/bin/recur" "$S/usr/local/share/man/man1"
check "soname is librecur.so.$MAJOR" sh -c "readelf -d '$S/usr/local/lib/librecur.so.$VERSION' | grep -q 'SONAME.*librecur.so.$MAJOR'"
others=$(nm -D --defined-only "$S/usr/local/lib/librecur.so.$VERSION" | awk '$3 !~ /^recur_/ {print $3}')
if [ -z "$others" ]; then ok; else bad "librecur.so exports symbols outside the API: $(echo "$others" | head -5 | tr '\n' ' ')"; fi
check "recur --version says $VERSION" sh -c "'$S/usr/local/bin/recur' --version | grep -qx 'recur $VERSION'"
if build_example "$S" --cflags --libs; then
    ok
    check "the shared build needs librecur.so.$MAJOR" sh -c "readelf -d '$S/fc' | grep -q 'NEEDED.*librecur.so.$MAJOR'"
    check "the example runs against the installed librecur.so" runs_example "$S"
else
    bad "examples/forecast.c does not build with pkg-config --cflags --libs recur (shared)"
fi
if $MAKE -s uninstall BUILD="$BUILD" DESTDIR="$S" > "$T/uninstall.log" 2>&1; then ok; else bad "make uninstall"; fi
left=$(find "$S" -type f ! -name fc)
if [ -z "$left" ]; then ok; else bad "make uninstall left: $left"; fi

# ---- static ----
A=$T/static
if $MAKE -s install SHARED=0 BUILD="$BUILD" DESTDIR="$A" > "$T/install.log" 2>&1; then ok; else
    bad "make install SHARED=0 DESTDIR=$A"
    cat "$T/install.log"
fi
check "SHARED=0 installs no .so" sh -c "! ls '$A'/usr/local/lib/librecur.so* 2>/dev/null"
if build_example "$A" --cflags --libs --static; then
    ok
    check "the static build needs no librecur.so" sh -c "! readelf -d '$A/fc' | grep -q 'NEEDED.*librecur'"
    check "the example runs, statically linked" runs_example "$A"
else
    bad "examples/forecast.c does not build with pkg-config --cflags --libs --static recur"
fi

echo "test_install.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
