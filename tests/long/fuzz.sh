#!/bin/sh
# fuzz.sh BUILD — every libFuzzer target for 10 minutes each.
set -eu
sh tests/fuzz/run.sh "${1:-build}" "${FUZZ_SECONDS:-600}"
