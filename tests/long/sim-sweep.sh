#!/bin/sh
# sim-sweep.sh BUILD — the simulator self-test over thousands of seeds and
# larger clusters (`make test-long`). A failing seed prints its replay line.
set -eu
build=${1:-build}
sim="$build/bin/sluice-sim"
"$sim" selftest --seeds 1..3000
"$sim" run --scenario selftest --nodes 5 --duration-ms 5000 --seeds 10000..10500
