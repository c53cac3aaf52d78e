#!/bin/sh
# run-long.sh BUILD — long sweeps for `make test-long`.
set -eu
build=${1:-build}
for t in tests/long/*.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  sh "$t" "$build"
done
