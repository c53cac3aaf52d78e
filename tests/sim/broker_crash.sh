#!/bin/sh
# broker_crash.sh BUILD — the broker-crash scenario (sim/scenarios/
# broker_crash.h): a broker, a producer and a consumer on the Kafka client
# under broker crashes (torn writes), stops, partitions and resets. A fixed
# 300-seed sweep (a few seconds), one longer run, and a replay check (the
# same seed twice must end with the same trace hash). Exits non-zero on any
# violation or mismatch.
set -eu
build=${1:-build}
sim="$build/bin/sluice-sim"
[ -x "$sim" ] || { echo "broker_crash.sh: $sim not built" >&2; exit 1; }

"$sim" run --scenario broker-crash --seeds 1..300
# 690: the idempotent producer resets its producer id while a batch of
# another partition is in doubt, and resends it under the new id: the same
# record twice in the log, which the checker must tell apart from a
# duplicate the broker should have caught (same producer id).
"$sim" run --scenario broker-crash --seed 690 --stats
"$sim" run --scenario broker-crash --seed 4242 --duration-ms 20000 --stats

seed=77
first=$("$sim" run --scenario broker-crash --seed "$seed" | tail -n 1)
second=$("$sim" run --scenario broker-crash --seed "$seed" | tail -n 1)
case "$first" in
  "trace-hash: "????????????????) ;;
  *) echo "broker_crash.sh: unexpected last line: $first" >&2; exit 1 ;;
esac
if [ "$first" != "$second" ]; then
  echo "broker_crash.sh: seed $seed does not replay: '$first' vs '$second'" >&2
  exit 1
fi
echo "replay: seed $seed -> $first (twice)"
