#!/bin/sh
# demo.sh BUILD — what `make demo` shows on a local default: the simulator
# running a small cluster under faults (and replaying it from its seed), and,
# where built, the partition log and compute examples.
set -eu
build=${1:-build}
bin="$build/bin"
seed=42
echo "== a 3-node simulated cluster under partitions, resets and crashes (seed $seed)"
"$bin/sluice-sim" selftest --seed "$seed" --nodes 3
echo "== the same seed again: the trace hash must be identical"
"$bin/sluice-sim" selftest --seed "$seed" --nodes 3 | tail -n 1
if [ -x "$bin/sluice-job" ]; then
  out="$build/demo/wordcount"
  rm -rf "$out"
  echo "== wordcount over the project's README with 2 executors"
  "$bin/sluice-job" wordcount --input README.md --output "$out" --executors 2
  echo "top words:"
  cat "$out"/part-* | sort -t "$(printf '\t')" -k2,2nr | head -n 5
fi
