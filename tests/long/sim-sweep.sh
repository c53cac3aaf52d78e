#!/bin/sh
# sim-sweep.sh BUILD — every simulator scenario over thousands of seeds, and
# the self-test on a larger cluster (`make test-long`; `make test` runs a
# few seeds of each). A failing seed prints its replay line and fails the
# sweep.
set -eu
build=${1:-build}
sim="$build/bin/sluice-sim"
"$sim" selftest --seeds 1..3000
"$sim" run --scenario selftest --nodes 5 --duration-ms 5000 --seeds 10000..10500
"$sim" run --scenario broker-crash --seeds 1..3000
"$sim" run --scenario group-rebalance --seeds 1..3000
"$sim" run --scenario log-crash --seeds 1..1000
