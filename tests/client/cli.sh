#!/bin/sh
# tests/client/cli.sh BUILD — the `sluice` tools against a real sluice-broker.
#
# Starts BUILD/bin/sluice-broker on a free loopback port (port 0, read back
# from its "listening on" line) with a fresh log dir and a generated
# server.properties, then checks with BUILD/bin/sluice:
#   - topics --create / --list / --describe / --alter / --delete;
#   - 10,000 keyed lines through `produce --key-separator TAB` come back
#     byte-exact from `consume --from-beginning --max-messages --print-key`
#     (in order on a 1-partition topic, as a set on a 3-partition one);
#   - gzip / lz4 / zstd / snappy batches and the idempotent producer;
#   - perf-produce and perf-consume run and report;
#   - clear errors and non-zero exits (unknown topic, nobody listening);
# and stops the broker with SIGTERM (it must exit 0). Every step is bounded
# in time; the broker and the temp dir are removed on any exit.
set -u

BUILD=${1:-build}
BIN=$(cd "$BUILD/bin" 2>/dev/null && pwd) || { echo "cli.sh: no $BUILD/bin"; exit 1; }
SLUICE=$BIN/sluice
BROKER=$BIN/sluice-broker
for f in "$SLUICE" "$BROKER"; do
  [ -x "$f" ] || { echo "cli.sh: $f is missing (build it first)"; exit 1; }
done

STEP_TIMEOUT=60
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cli-XXXXXX")
BROKER_PID=
FAILED=0

cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -KILL "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILED=$((FAILED + 1)); }
# run NAME CMD...: bounded, output in $TMP/NAME.out / .err, status in $RC.
run() {
  name=$1; shift
  timeout "$STEP_TIMEOUT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  RC=$?
}
show() { sed 's/^/    /' "$TMP/$1.err" | head -20; }

# ---------------------------------------------------------------- broker
cat >"$TMP/server.properties" <<EOF
node.id=1
listeners=PLAINTEXT://127.0.0.1:0
log.dirs=$TMP/logs
num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true
EOF
"$BROKER" "$TMP/server.properties" >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
PORT=
i=0
while [ $i -lt 100 ] && [ -z "$PORT" ]; do
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/broker.log" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$PORT" ]; then
  echo "FAIL - the broker did not start:"; sed 's/^/    /' "$TMP/broker.log"
  exit 1
fi
BS="--bootstrap-server 127.0.0.1:$PORT"
ok "broker listening on 127.0.0.1:$PORT"

# ---------------------------------------------------------------- topics
run create1 "$SLUICE" topics $BS --create --topic lines1 --partitions 1
[ $RC -eq 0 ] && grep -q "Created topic lines1." "$TMP/create1.out" \
  && ok "topics --create lines1" || { fail "topics --create lines1"; show create1; }
run create3 "$SLUICE" topics $BS --create --topic lines3 --partitions 3 \
  --config retention.ms=86400000
[ $RC -eq 0 ] && ok "topics --create lines3 (3 partitions, a config)" \
  || { fail "topics --create lines3"; show create3; }
run dup "$SLUICE" topics $BS --create --topic lines3 --partitions 3
[ $RC -ne 0 ] && grep -q "already exists" "$TMP/dup.err" \
  && ok "topics --create of an existing topic fails: $(cat "$TMP/dup.err")" \
  || { fail "duplicate create"; show dup; }
run list "$SLUICE" topics $BS --list
[ $RC -eq 0 ] && grep -qx lines1 "$TMP/list.out" && grep -qx lines3 "$TMP/list.out" \
  && ok "topics --list" || { fail "topics --list"; show list; }
run desc "$SLUICE" topics $BS --describe --topic lines3
[ $RC -eq 0 ] && grep -q "PartitionCount: 3" "$TMP/desc.out" \
  && grep -q "retention.ms=86400000" "$TMP/desc.out" \
  && [ "$(grep -c 'Partition: ' "$TMP/desc.out")" -eq 3 ] \
  && ok "topics --describe shows partitions, leaders and the config" \
  || { fail "topics --describe"; cat "$TMP/desc.out"; show desc; }

# ------------------------------------------------ 10k keyed lines, 2 ways
# Keys and values with spaces, punctuation, UTF-8 and empty values.
awk 'BEGIN { for (i = 0; i < 10000; i++) {
  v = (i % 97 == 0) ? "" : sprintf("value %d: café ünïcødé, \"quoted\" ; %s", i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26));
  printf "key-%05d\t%s\n", i, v } }' >"$TMP/input.txt"
run produce1 sh -c "exec '$SLUICE' produce $BS --topic lines1b --key-separator TAB < '$TMP/input.txt'"
grep -q "does not exist" "$TMP/produce1.err" && [ $RC -ne 0 ] \
  && ok "produce to a missing topic (no auto-create) fails: $(tail -1 "$TMP/produce1.err")" \
  || { fail "produce to a missing topic"; show produce1; }
run produce-l1 sh -c "exec '$SLUICE' produce $BS --topic lines1 --key-separator TAB < '$TMP/input.txt'"
[ $RC -eq 0 ] && ok "produce 10000 keyed lines to lines1 (acks -1)" \
  || { fail "produce lines1"; show produce-l1; }
run produce-l3 sh -c "exec '$SLUICE' produce $BS --topic lines3 --key-separator TAB --acks 1 < '$TMP/input.txt'"
[ $RC -eq 0 ] && ok "produce 10000 keyed lines to lines3 (acks 1)" \
  || { fail "produce lines3"; show produce-l3; }

run consume1 "$SLUICE" consume $BS --topic lines1 --from-beginning \
  --max-messages 20000 --print-key --timeout-ms 3000
if cmp -s "$TMP/input.txt" "$TMP/consume1.out"; then
  ok "consume lines1 --from-beginning: 10000 lines back byte-exact, in order"
else
  fail "lines1 round trip differs"; show consume1
  diff "$TMP/input.txt" "$TMP/consume1.out" | head -5
fi
# 20000 asked, 10000 there: the idle timeout ends it with an error.
[ $RC -ne 0 ] && grep -q "timed out" "$TMP/consume1.err" \
  && ok "consume stops after --timeout-ms: $(head -1 "$TMP/consume1.err")" \
  || { fail "consume timeout exit"; show consume1; }

run consume3 "$SLUICE" consume $BS --topic lines3 --from-beginning \
  --max-messages 10000 --print-key --timeout-ms 10000
sort "$TMP/input.txt" >"$TMP/input.sorted"
sort "$TMP/consume3.out" >"$TMP/consume3.sorted"
[ $RC -eq 0 ] && cmp -s "$TMP/input.sorted" "$TMP/consume3.sorted" \
  && ok "consume lines3 (3 partitions) --max-messages 10000: the same 10000 lines" \
  || { fail "lines3 round trip"; show consume3; }
grep -q "Processed a total of 10000 messages" "$TMP/consume3.err" \
  && ok "consume reports: $(grep Processed "$TMP/consume3.err")" \
  || fail "consume summary line"

# Per partition, key order is production order (the key hash picks it).
run consume3p "$SLUICE" consume $BS --topic lines3 --partition 1 --offset 0 \
  --print-key --timeout-ms 2000
cut -f1 "$TMP/consume3p.out" >"$TMP/p1.keys"
sort "$TMP/p1.keys" | cmp -s - "$TMP/p1.keys" && [ -s "$TMP/p1.keys" ] \
  && ok "partition 1 holds $(wc -l <"$TMP/p1.keys") keys, in production order" \
  || { fail "partition order"; show consume3p; }

# ---------------------------------------------- codecs and idempotence
for codec in gzip snappy lz4 zstd; do
  run "mk-$codec" "$SLUICE" topics $BS --create --topic "c-$codec" --partitions 1
  run "p-$codec" sh -c "head -2000 '$TMP/input.txt' | exec '$SLUICE' produce $BS --topic c-$codec --key-separator TAB --compression $codec --idempotence"
  run "c-$codec" "$SLUICE" consume $BS --topic "c-$codec" --from-beginning \
    --max-messages 2000 --print-key --timeout-ms 10000
  head -2000 "$TMP/input.txt" | cmp -s - "$TMP/c-$codec.out" \
    && ok "$codec, idempotent: 2000 lines back byte-exact" \
    || { fail "$codec round trip"; show "p-$codec"; show "c-$codec"; }
done

# ------------------------------------------------------------ perf tools
run mkperf "$SLUICE" topics $BS --create --topic perf --partitions 1
run perfp "$SLUICE" perf-produce $BS --topic perf --num-records 100000 \
  --record-size 100 --throughput -1 --acks 1 --linger-ms 5
grep -q "records sent" "$TMP/perfp.out" && [ $RC -eq 0 ] \
  && ok "perf-produce: $(tail -1 "$TMP/perfp.out")" \
  || { fail "perf-produce"; show perfp; }
run perfc "$SLUICE" perf-consume $BS --topic perf --messages 100000
[ $RC -eq 0 ] && ok "perf-consume: $(tail -1 "$TMP/perfc.out")" \
  || { fail "perf-consume"; show perfc; }
run perfp2 "$SLUICE" perf-produce $BS --topic perf --num-records 5000 \
  --record-size 1024 --throughput 5000 --acks -1
[ $RC -eq 0 ] && ok "perf-produce throttled: $(tail -1 "$TMP/perfp2.out")" \
  || { fail "perf-produce throttled"; show perfp2; }

# --------------------------------------------------------- alter, delete
run alter "$SLUICE" topics $BS --alter --topic lines3 --partitions 5
run desc2 "$SLUICE" topics $BS --describe --topic lines3
grep -q "PartitionCount: 5" "$TMP/desc2.out" && ok "topics --alter --partitions 5" \
  || { fail "alter partitions"; show alter; }
run alter2 "$SLUICE" topics $BS --alter --topic lines3 --config cleanup.policy=compact
run desc3 "$SLUICE" topics $BS --describe --topic lines3
grep -q "cleanup.policy=compact" "$TMP/desc3.out" && ok "topics --alter --config" \
  || { fail "alter config"; show alter2; cat "$TMP/desc3.out"; }
run del "$SLUICE" topics $BS --delete --topic lines1
run list2 "$SLUICE" topics $BS --list
[ $RC -eq 0 ] && ! grep -qx lines1 "$TMP/list2.out" && ok "topics --delete lines1" \
  || { fail "delete"; show del; }

# ---------------------------------------------------------------- errors
run nope "$SLUICE" consume $BS --topic nope --from-beginning --timeout-ms 1000
[ $RC -ne 0 ] && grep -q "topic 'nope' does not exist" "$TMP/nope.err" \
  && ok "consume of a missing topic: $(head -1 "$TMP/nope.err")" \
  || { fail "missing topic"; show nope; }
run usage "$SLUICE" topics $BS --create
[ $RC -eq 2 ] && ok "usage error exits 2: $(cat "$TMP/usage.err")" \
  || { fail "usage error"; show usage; }
for c in topics produce consume groups perf-produce perf-consume; do
  run "help-$c" "$SLUICE" $c --help
  [ $RC -eq 0 ] && grep -q usage "$TMP/help-$c.out" || fail "$c --help"
done
ok "--help on every subcommand"

# ------------------------------------------------------------- shutdown
kill -TERM "$BROKER_PID"
i=0
while kill -0 "$BROKER_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$BROKER_PID" 2>/dev/null; then
  fail "the broker did not stop within 30 s of SIGTERM"
else
  wait "$BROKER_PID"; st=$?
  BROKER_PID=
  [ $st -eq 0 ] && ok "broker stopped cleanly on SIGTERM" || fail "broker exit status $st"
fi
run refused "$SLUICE" topics $BS --list
[ $RC -ne 0 ] && grep -q "cannot connect to 127.0.0.1:$PORT: connection refused" "$TMP/refused.err" \
  && ok "with the broker gone: $(cat "$TMP/refused.err")" \
  || { fail "connection refused message"; show refused; }

if [ $FAILED -ne 0 ]; then
  echo "cli.sh: $FAILED check(s) failed"
  exit 1
fi
echo "cli.sh: all checks passed"
