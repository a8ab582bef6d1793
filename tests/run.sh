#!/bin/sh
# Runs every test binary given, then the reference vectors through refcheck.
# Prints one closing line "N passed, M failed" over the binaries and exits
# non-zero if any failed.
pass=0; fail=0
for t in "$@"; do
    echo "== $t"
    if "$t"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAILED: $t"; fi
done
echo "== refcheck tests/ref/*.txt"
if "$BUILD/refcheck" tests/ref/*.txt; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAILED: refcheck"; fi
echo "== examples/forecast.c on data/AAPL.csv, 1 epoch (the README's library example runs)"
if out=$("$BUILD/examples/forecast" data/AAPL.csv 1) && echo "$out" | grep -q "test MAE .* vs persistence 0.6009 over 503 days"; then
    echo "$out"; pass=$((pass+1))
else
    echo "$out"; fail=$((fail+1)); echo "FAILED: examples/forecast"
fi
echo "test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
