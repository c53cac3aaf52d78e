#!/bin/sh
# bench.sh BUILD — every benchmark, each printing its figures next to a
# baseline measured in the same run and the ratio between them. Numbers are
# for reading, not for pass/fail: these machines are shared and noisy.
set -eu
build=${1:-build}
bin="$build/bin"
echo "== simulator (sluice-sim bench)"
"$bin/sluice-sim" bench
if [ -x "$bin/bench-crc32c" ]; then
  echo "== CRC-32C (bench-crc32c: every path this CPU has, in cache)"
  "$bin/bench-crc32c"
fi
if [ -x "$bin/sluice-log" ]; then
  echo "== partition log (sluice-log bench)"
  "$bin/sluice-log" bench --dir "$build/bench-log"
  rm -rf "$build/bench-log"
fi
if [ -x "$bin/sluice-broker" ] && [ -f tools/bench-broker.sh ]; then
  echo "== broker"
  sh tools/bench-broker.sh "$build"
fi
if [ -x "$bin/sluice-job" ] && [ -f tools/bench-compute.sh ]; then
  echo "== compute engine"
  sh tools/bench-compute.sh "$build"
fi
