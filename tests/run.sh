#!/bin/sh
# run.sh BUILD — everything `make test` runs, in order. Stops at the first
# failing step and exits non-zero. Each step prints its own summary.
set -eu
build=${1:-build}
steps=0
echo "== unit suites"
"$build/bin/sluice-unit"
steps=$((steps + 1))
for t in tests/sim/*.sh tests/compute/*.sh tests/log/*.sh tests/client/*.sh tests/conformance/run.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  sh "$t" "$build"
  steps=$((steps + 1))
done
# A failing step stops the script above (set -e) with a non-zero status.
echo "test-steps: $steps passed, 0 failed"
