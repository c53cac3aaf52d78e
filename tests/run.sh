#!/bin/sh
# run.sh BUILD — everything `make test` runs, in order. Stops at the first
# failing step and exits non-zero. Each step prints its own summary.
set -eu
build=${1:-build}
echo "== unit suites"
"$build/bin/sluice-unit"
for t in tests/sim/*.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  sh "$t" "$build"
done
echo "== all tests passed"
