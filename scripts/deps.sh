#!/bin/sh
# Installs the Debian packages recur needs, only when some are missing.
# Build: gcc, make, pkg-config, OpenBLAS (CBLAS), Jansson, PLplot + cairo driver.
# Keras files: libhdf5-dev, libzip-dev. Tests: cmocka; python3-h5py (the independent
# reader of the .keras files recur writes; tests/test_keras.sh skips that check
# without it). Man pages (make install): help2man. Sanitizer and fuzz builds
# use clang's runtime when present.
# Optional groups, installed only when named: `sh scripts/deps.sh mpi` adds
# Open MPI (headers, mpicc, mpirun) for `make MPI=1` and `make test-mpi`.
set -e
PKGS="build-essential pkg-config libopenblas-dev libjansson-dev libplplot-dev plplot-driver-cairo libcmocka-dev libhdf5-dev libzip-dev python3-h5py help2man"
for group in "$@"; do
    case "$group" in
    mpi) PKGS="$PKGS libopenmpi-dev openmpi-bin" ;;
    *) echo "deps: unknown group \"$group\" (groups: mpi)" >&2; exit 2 ;;
    esac
done
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
