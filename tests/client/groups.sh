#!/bin/sh
# tests/client/groups.sh BUILD — consumer groups through the `sluice` tools
# against a real sluice-broker (started as in cli.sh: loopback, port 0, a
# fresh log dir). Checks:
#   - two `sluice consume --group` processes started together share a
#     6-partition topic and together print every line exactly once;
#   - `sluice groups --describe` then shows lag 0 on every partition, and
#     lag N in total after N more lines are produced;
#   - a third member started later resumes from the committed offsets and
#     prints exactly the N new lines;
#   - `sluice groups --list`, `--describe --members` while a member is live;
#   - clear errors: unknown group, bad usage, --group with --partition.
# Every step is bounded in time; every process started here is stopped on
# any exit, and the temp dir removed.
set -u

BUILD=${1:-build}
BIN=$(cd "$BUILD/bin" 2>/dev/null && pwd) || { echo "groups.sh: no $BUILD/bin"; exit 1; }
SLUICE=$BIN/sluice
BROKER=$BIN/sluice-broker
for f in "$SLUICE" "$BROKER"; do
  [ -x "$f" ] || { echo "groups.sh: $f is missing (build it first)"; exit 1; }
done

STEP_TIMEOUT=60
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-groups-XXXXXX")
BROKER_PID=
PIDS=
FAILED=0

cleanup() {
  for p in $PIDS; do
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -KILL "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILED=$((FAILED + 1)); }
run() {
  name=$1; shift
  timeout "$STEP_TIMEOUT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  RC=$?
}
show() { sed 's/^/    /' "$TMP/$1.err" | head -20; }
# total_lag FILE: the sum of the LAG column of a --describe table.
total_lag() { awk 'NR > 1 && $6 != "-" { s += $6 } END { print s + 0 }' "$1"; }
# rows_with_lag FILE: data rows whose LAG is a number.
rows_with_lag() { awk 'NR > 1 && $6 ~ /^[0-9]+$/ { n++ } END { print n + 0 }' "$1"; }

# ---------------------------------------------------------------- broker
cat >"$TMP/server.properties" <<EOF
node.id=1
listeners=PLAINTEXT://127.0.0.1:0
log.dirs=$TMP/logs
num.partitions=1
auto.create.topics.enable=false
EOF
: >"$TMP/broker.log"
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

run create "$SLUICE" topics $BS --create --topic gtopic --partitions 6
[ $RC -eq 0 ] || { fail "create gtopic"; show create; }
# Keyed lines, so they spread over all six partitions.
awk 'BEGIN { for (i = 0; i < 6000; i++) printf "k%d\tline %d\n", i, i }' >"$TMP/input.txt"
cut -f2 "$TMP/input.txt" | sort >"$TMP/input.sorted"
run produce sh -c "exec '$SLUICE' produce $BS --topic gtopic --key-separator TAB < '$TMP/input.txt'"
[ $RC -eq 0 ] && ok "produce 6000 keyed lines to gtopic (6 partitions)" \
  || { fail "produce"; show produce; }

# ------------------------------------------- two members share the topic
# Both start within the broker's initial rebalance delay (3 s), so they
# join one generation; each stops after 4 s without a record, commits and
# leaves.
for m in a b; do
  timeout "$STEP_TIMEOUT" "$SLUICE" consume $BS --topic gtopic --group g1 \
    --from-beginning --timeout-ms 4000 >"$TMP/m-$m.out" 2>"$TMP/m-$m.err" &
  PIDS="$PIDS $!"
  sleep 0.3
done
st_all=0
for p in $PIDS; do
  wait "$p"; st=$?
  [ $st -eq 0 ] || st_all=$st
done
PIDS=
na=$(wc -l <"$TMP/m-a.out"); nb=$(wc -l <"$TMP/m-b.out")
cat "$TMP/m-a.out" "$TMP/m-b.out" | sort >"$TMP/both.sorted"
if [ $st_all -eq 0 ] && cmp -s "$TMP/input.sorted" "$TMP/both.sorted"; then
  ok "two group members printed every line exactly once ($na + $nb = 6000)"
else
  fail "two members: $na + $nb lines (exit $st_all), not each line once"
  show m-a; show m-b
  sort "$TMP/both.sorted" | uniq -d | head -3
fi
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] && ok "both members got a share" \
  || fail "one member got nothing ($na / $nb)"

# -------------------------------------------------------- describe, lag
run desc0 "$SLUICE" groups $BS --describe --group g1
if [ $RC -eq 0 ] && [ "$(rows_with_lag "$TMP/desc0.out")" -eq 6 ] \
   && [ "$(total_lag "$TMP/desc0.out")" -eq 0 ]; then
  ok "groups --describe: 6 partitions, lag 0"
  sed 's/^/    /' "$TMP/desc0.out"
else
  fail "describe after consuming"; cat "$TMP/desc0.out"; show desc0
fi
grep -q "has no active members" "$TMP/desc0.err" \
  && ok "describe says: $(cat "$TMP/desc0.err")" || fail "no-members note"

awk 'BEGIN { for (i = 6000; i < 6250; i++) printf "k%d\tline %d\n", i, i }' >"$TMP/more.txt"
run produce2 sh -c "exec '$SLUICE' produce $BS --topic gtopic --key-separator TAB < '$TMP/more.txt'"
run desc1 "$SLUICE" groups $BS --describe --group g1
[ $RC -eq 0 ] && [ "$(total_lag "$TMP/desc1.out")" -eq 250 ] \
  && ok "after 250 more lines: total lag 250" \
  || { fail "lag after producing 250"; cat "$TMP/desc1.out"; show desc1; }

# ------------------------------------- a new member resumes from commits
timeout "$STEP_TIMEOUT" "$SLUICE" consume $BS --topic gtopic --group g1 \
  --timeout-ms 5000 >"$TMP/m-c.out" 2>"$TMP/m-c.err" &
CPID=$!
PIDS=$CPID
# While it runs: it shows up as the owner of every partition.
i=0
while [ $i -lt 100 ]; do
  run live "$SLUICE" groups $BS --describe --group g1 --members
  grep -q "gtopic-0,gtopic-1,gtopic-2,gtopic-3,gtopic-4,gtopic-5" "$TMP/live.out" && break
  sleep 0.1
  i=$((i + 1))
done
grep -q "gtopic-0,gtopic-1,gtopic-2,gtopic-3,gtopic-4,gtopic-5" "$TMP/live.out" \
  && ok "groups --describe --members shows the live member with all 6 partitions" \
  && sed 's/^/    /' "$TMP/live.out" \
  || { fail "describe --members"; cat "$TMP/live.out"; show live; }
run list "$SLUICE" groups $BS --list
[ $RC -eq 0 ] && grep -qx g1 "$TMP/list.out" && ok "groups --list shows g1" \
  || { fail "groups --list"; show list; }
wait "$CPID"; st=$?
PIDS=
cut -f2 "$TMP/more.txt" | sort >"$TMP/more.sorted"
sort "$TMP/m-c.out" | cmp -s "$TMP/more.sorted" - && [ $st -eq 0 ] \
  && ok "a new member resumed at the committed offsets: exactly the 250 new lines" \
  || { fail "resume: $(wc -l <"$TMP/m-c.out") lines, exit $st"; show m-c; }
run desc2 "$SLUICE" groups $BS --describe --group g1
[ $RC -eq 0 ] && [ "$(total_lag "$TMP/desc2.out")" -eq 0 ] \
  && ok "lag back to 0" || { fail "lag after resume"; cat "$TMP/desc2.out"; }

# ------------------------------------ a mixed group with librdkafka (kcat)
# kcat's balanced consumer (librdkafka, assignors range,roundrobin) and a
# sluice member in one group: they agree on "range"; kcat's client id sorts
# after ours, so the sluice member is the leader and librdkafka consumes
# the assignment it computed.
if command -v kcat >/dev/null 2>&1; then
  timeout "$STEP_TIMEOUT" "$SLUICE" consume $BS --topic gtopic --group mixed \
    --from-beginning --timeout-ms 4000 >"$TMP/mx-s.out" 2>"$TMP/mx-s.err" &
  PIDS=$!
  sleep 0.3
  timeout "$STEP_TIMEOUT" kcat -b "127.0.0.1:$PORT" -X client.id=zz-kcat -G mixed \
    -X auto.offset.reset=earliest -X enable.partition.eof=true -e -q -f '%s\n' \
    gtopic >"$TMP/mx-k.out" 2>"$TMP/mx-k.err" &
  PIDS="$PIDS $!"
  st_all=0
  for p in $PIDS; do
    wait "$p"; st=$?
    [ $st -eq 0 ] || st_all=$st
  done
  PIDS=
  cat "$TMP/input.txt" "$TMP/more.txt" | cut -f2 | sort >"$TMP/all.sorted"
  cat "$TMP/mx-s.out" "$TMP/mx-k.out" | sort >"$TMP/mx.sorted"
  ns=$(wc -l <"$TMP/mx-s.out"); nk=$(wc -l <"$TMP/mx-k.out")
  [ $st_all -eq 0 ] && [ "$ns" -gt 0 ] && [ "$nk" -gt 0 ] \
    && cmp -s "$TMP/all.sorted" "$TMP/mx.sorted" \
    && ok "a sluice member (leader) and kcat -G share group mixed: $ns + $nk lines, each once" \
    || { fail "mixed group with kcat: $ns + $nk lines (exit $st_all)"; show mx-s; show mx-k; }
else
  echo "skip - kcat is not installed: no mixed group with librdkafka"
fi

# ---------------------------------------------------------------- errors
run nosuch "$SLUICE" groups $BS --describe --group nosuch
[ $RC -eq 1 ] && grep -q "does not exist" "$TMP/nosuch.err" \
  && ok "unknown group: $(cat "$TMP/nosuch.err")" || { fail "unknown group"; show nosuch; }
run usage1 "$SLUICE" groups $BS --describe
[ $RC -eq 2 ] && ok "usage: $(cat "$TMP/usage1.err")" || { fail "usage1"; show usage1; }
run usage2 "$SLUICE" groups $BS
[ $RC -eq 2 ] && ok "usage: $(cat "$TMP/usage2.err")" || { fail "usage2"; show usage2; }
run usage3 "$SLUICE" consume $BS --topic gtopic --group g1 --partition 0
[ $RC -eq 2 ] && ok "usage: $(cat "$TMP/usage3.err")" || { fail "usage3"; show usage3; }
run help "$SLUICE" groups --help
[ $RC -eq 0 ] && grep -q usage "$TMP/help.out" && ok "groups --help" || fail "groups --help"
run help2 "$SLUICE" consume --help
grep -q -- "--group G" "$TMP/help2.out" && ok "consume --help lists --group" || fail "consume --help"

# ------------------------------------------------------------- shutdown
kill -TERM "$BROKER_PID"
i=0
while kill -0 "$BROKER_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$BROKER_PID" 2>/dev/null; then
  fail "the broker did not stop within 30 s of SIGTERM"
else
  wait "$BROKER_PID"
  BROKER_PID=
fi
run refused "$SLUICE" groups $BS --list
[ $RC -eq 1 ] && ok "with the broker gone: $(cat "$TMP/refused.err")" \
  || { fail "groups with no broker"; show refused; }

if [ $FAILED -ne 0 ]; then
  echo "groups.sh: $FAILED check(s) failed"
  exit 1
fi
echo "groups.sh: all checks passed"
