#!/bin/sh
# tests/conformance/run.sh BUILD — sluice-broker against Kafka clients no one
# here wrote: kcat, librdkafka (a C program), kafka-python, KafkaJS (from
# npm, installed into build/npm by make deps), plus raw bad input, a clean
# restart and a kill -9 restart.
#
# Starts build/bin/sluice-broker on a free loopback port with its data in a
# temporary directory, runs each test, stops the broker, and exits non-zero
# if any test failed. Every client call is bounded by `timeout`; every
# process started here is stopped here (by pid).
#
#   sh tests/conformance/run.sh build
#   KEEP=1 sh tests/conformance/run.sh build   # keep the temp dir for a look
#   ONLY="rdkafka-group kcat-group" sh tests/conformance/run.sh build
set -u

build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
broker_bin=$build/bin/sluice-broker
python=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-conformance-XXXXXX")
data=$tmp/data
pid=
port=0
failed=0
passed=0

note() { printf '%s\n' "$*"; }

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
    note "(kept $tmp)"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in kcat cc pkg-config timeout; do
  command -v "$tool" >/dev/null || { note "missing $tool: run make deps"; exit 1; }
done
[ -x "$python" ] || { note "missing $python: run make deps"; exit 1; }
kafkajs_modules=$root/build/npm/node_modules
command -v node >/dev/null || { note "missing node: run make deps"; exit 1; }
[ -f "$kafkajs_modules/kafkajs/package.json" ] ||
  { note "missing KafkaJS in $kafkajs_modules: run make deps"; exit 1; }
[ -x "$broker_bin" ] || { note "missing $broker_bin: build first"; exit 1; }

# start_broker [EXTRA OVERRIDES...]: starts the broker (port 0 the first
# time, the same port afterwards) and waits for its "listening on" line.
start_broker() {
  log=$tmp/broker.$(date +%s%N).log
  "$broker_bin" "$root/config/server.properties" \
    --override "log.dirs=$data" \
    --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "num.partitions=1" \
    --override "log.flush.offset.checkpoint.interval.ms=2000" \
    --override "log.flush.interval.messages=1" \
    --override "log.retention.check.interval.ms=1000" \
    --override "group.initial.rebalance.delay.ms=0" \
    --override "offsets.topic.num.partitions=10" \
    "$@" >"$log" 2>&1 &
  pid=$!
  i=0
  while [ $i -lt 100 ]; do
    line=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null)
    if [ -n "$line" ]; then
      port=${line##*:}
      bs=127.0.0.1:$port
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
  done
  note "broker did not start:"
  cat "$log"
  return 1
}

# stop_broker: SIGTERM, wait (bounded) and check the exit status is 0.
stop_broker() {
  kill -TERM "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    note "broker did not exit within 20 s of SIGTERM"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    pid=
    return 1
  fi
  wait "$pid"
  rc=$?
  pid=
  [ $rc -eq 0 ] || { note "broker exited with status $rc"; tail -5 "$log"; }
  return $rc
}

# kill_broker: kill -9 (a crash that keeps the page cache).
kill_broker() {
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  pid=
}

broker_alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# run_test NAME COMMAND...: runs one test, prints PASS/FAIL with its output
# on failure.
run_test() {
  name=$1
  shift
  case " ${ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  out=$tmp/$name.out
  start=$(date +%s)
  if "$@" >"$out" 2>&1 && broker_alive; then
    passed=$((passed + 1))
    note "PASS $name ($(($(date +%s) - start)) s)"
  else
    failed=$((failed + 1))
    note "FAIL $name"
    sed 's/^/    /' "$out" | tail -40
    broker_alive || note "    (the broker is not running; its log: $log)"
  fi
}

# ------------------------------------------------------------------ kcat

kcat_messages=100000
kcat_topic=kcat-keys

test_kcat_metadata() {
  timeout 20 kcat -b "$bs" -L >"$tmp/meta.txt" || return 1
  grep -q "broker 1 at 127.0.0.1:$port (controller)" "$tmp/meta.txt" ||
    { cat "$tmp/meta.txt"; return 1; }
  echo "kcat -L ok"
}

test_kcat_produce_consume() {
  # Keys and values of varied length and content (no tab or newline).
  awk -v n=$kcat_messages 'BEGIN {
    for (i = 0; i < n; i++) {
      v = sprintf("value-%d-", i);
      for (j = 0; j < i % 37; j++) v = v sprintf("%c", 33 + (i * 7 + j) % 90);
      printf "key-%06d\t%s\n", i, v;
    } }' >"$tmp/kcat.in"
  timeout 60 kcat -b "$bs" -P -t $kcat_topic -K '\t' -z none <"$tmp/kcat.in" ||
    return 1
  timeout 60 kcat -b "$bs" -C -t $kcat_topic -o beginning -e -q \
    -f '%k\t%s\n' >"$tmp/kcat.out" || return 1
  cmp "$tmp/kcat.in" "$tmp/kcat.out" || return 1
  echo "$kcat_messages keyed messages consumed back byte for byte"
  # And compressed, in another topic.
  head -20000 "$tmp/kcat.in" >"$tmp/kcat.gz.in"
  timeout 60 kcat -b "$bs" -P -t kcat-lz4 -K '\t' -z lz4 <"$tmp/kcat.gz.in" ||
    return 1
  timeout 60 kcat -b "$bs" -C -t kcat-lz4 -o beginning -e -q \
    -f '%k\t%s\n' >"$tmp/kcat.gz.out" || return 1
  cmp "$tmp/kcat.gz.in" "$tmp/kcat.gz.out" || return 1
  echo "20000 lz4-compressed messages consumed back byte for byte"
}

test_kcat_offsets() {
  end=$(timeout 20 kcat -b "$bs" -Q -t $kcat_topic:0:-1) || return 1
  begin=$(timeout 20 kcat -b "$bs" -Q -t $kcat_topic:0:-2) || return 1
  echo "$end / $begin"
  [ "$end" = "$kcat_topic [0] offset $kcat_messages" ] || return 1
  [ "$begin" = "$kcat_topic [0] offset 0" ] || return 1
  # By timestamp: the first record at or after a timestamp from the future
  # does not exist (-1); from the past it is offset 0.
  now_ms=$(($(date +%s) * 1000))
  past=$(timeout 20 kcat -b "$bs" -Q -t $kcat_topic:0:$((now_ms - 3600000)))
  future=$(timeout 20 kcat -b "$bs" -Q -t $kcat_topic:0:$((now_ms + 3600000)))
  echo "$past / $future"
  [ "$past" = "$kcat_topic [0] offset 0" ] || return 1
  [ "$future" = "$kcat_topic [0] offset -1" ] || return 1
  # -o: the last 3 messages.
  timeout 20 kcat -b "$bs" -C -t $kcat_topic -o -3 -e -q -f '%o %k\n' \
    >"$tmp/tail.out" || return 1
  printf '99997 key-099997\n99998 key-099998\n99999 key-099999\n' |
    cmp - "$tmp/tail.out" || return 1
  echo "offsets ok"
}

# ------------------------------------------------------------- librdkafka

test_rdkafka() {
  cc -std=c11 -O1 -Wall -Werror -o "$tmp/rdkafka_test" \
    "$here/rdkafka_test.c" $(pkg-config --cflags --libs rdkafka) || return 1
  timeout 120 "$tmp/rdkafka_test" "$bs"
}

# ----------------------------------------------------------- kafka-python

test_kafka_python() {
  timeout 120 "$python" "$here/kafka_python_test.py" "$bs"
}


# --------------------------------------------------------- consumer groups

# Values v<FIRST>..v<LAST> in the P/U files of the group consumers (see
# rdkafka_group_test.c): net_check MODE FIRST LAST FILES... where MODE
# "exact" wants every value exactly once and nothing else, "atleast" every
# value at least once (repeats only where the killed consumer's file has
# the value: $killed_out).
net_check() {
  mode=$1 first=$2 last=$3
  shift 3
  cat "$@" | awk -v mode="$mode" -v first="$first" -v last="$last" \
    -v killed="${killed_out:-}" '
    BEGIN { if (killed != "") while ((getline l < killed) > 0) {
              split(l, f, " "); if (f[1] == "P") k[f[2]] = 1 } }
    $1 == "P" { c[$2]++ } $1 == "U" { c[$2]-- }
    END {
      bad = 0; dup = 0
      for (i = first; i <= last; i++) {
        n = c["v" i] + 0
        if (n < 1) { if (bad < 5) print "missing v" i; bad++ }
        else if (n > 1) {
          if (mode == "exact" || !(("v" i) in k)) {
            if (bad < 5) print "v" i " consumed " n " times"; bad++
          } else dup++
        }
        delete c["v" i]
      }
      for (v in c) if (c[v] != 0) { if (bad < 5) print "unexpected " v; bad++ }
      printf "%d values checked (%s), %d redelivered after the kill, %d bad\n",
        last - first + 1, mode, dup, bad
      exit bad != 0 }'
}

# wait_values COUNT FILES...: waits (60 s at most) until the files hold
# COUNT values net.
wait_values() {
  want=$1
  shift
  i=0
  while [ $i -lt 600 ]; do
    have=$(cat "$@" 2>/dev/null | awk '$1 == "P" { c[$2]++ } $1 == "U" { c[$2]-- }
      END { n = 0; for (v in c) if (c[v] > 0) n++; print n }')
    [ "$have" -ge "$want" ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  echo "only $have of $want values consumed"
  return 1
}

# stop_consumers PIDS...: asks the consumers to close (stop file), waits.
stop_consumers() {
  touch "$gstop"
  rc=0
  for p in "$@"; do
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    if kill -0 "$p" 2>/dev/null; then
      echo "consumer $p did not close"
      kill -KILL "$p"
      rc=1
    fi
    wait "$p" || rc=1
  done
  rm -f "$gstop"
  return $rc
}

# The same story for librdkafka and kafka-python consumers:
#  1. three consumers share a 6-partition topic and consume 3000 values
#     exactly once, committing each;
#  2. one is killed (SIGKILL) in the middle of 3000 more; the others take
#     over its partitions after its session times out and finish (every
#     value at least once, repeats only of what the killed one had taken);
#  3. the broker is restarted; a new consumer of the group resumes from the
#     committed offsets: it gets exactly the 600 values produced after.
group_story() {
  kind=$1 topic=$2 group=$3
  shift 3
  gdir=$tmp/$kind
  mkdir -p "$gdir"
  gstop=$gdir/stop
  "$gtool" create "$bs" "$topic" 6 || return 1
  for c in 1 2 3; do
    "$@" consume "$bs" "$topic" "$group" "$kind-$c" "$gdir/c$c.out" "$gstop" \
      2>"$gdir/c$c.log" &
    eval "cpid$c=\$!"
  done
  # Produce once the group settled: each consumer holds 2 partitions.
  i=0
  while [ $i -lt 300 ]; do
    settled=0
    for c in 1 2 3; do
      a=$(grep "^$kind-$c assigned" "$gdir/c$c.log" | tail -1 | wc -w)
      [ "$a" -eq 4 ] && settled=$((settled + 1))
    done
    [ $settled -eq 3 ] && break
    sleep 0.1
    i=$((i + 1))
  done
  [ $settled -eq 3 ] || echo "(the group did not settle on 2 partitions each)"
  "$gtool" produce "$bs" "$topic" 0 3000 || return 1
  wait_values 3000 "$gdir"/c?.out || { stop_consumers $cpid1 $cpid2 $cpid3; return 1; }
  net_check exact 0 2999 "$gdir"/c?.out || { stop_consumers $cpid1 $cpid2 $cpid3; return 1; }
  for c in 1 2 3; do
    [ -s "$gdir/c$c.out" ] || { echo "consumer $c consumed nothing"; cat "$gdir"/c?.log; stop_consumers $cpid1 $cpid2 $cpid3; return 1; }
  done
  echo "phase 1: 3 consumers, 3000 values exactly once; last assignments:"
  for c in 1 2 3; do grep "^$kind-$c assigned" "$gdir/c$c.log" | tail -1 | sed 's/^/  /'; done
  # Phase 2: kill consumer 1 once it is busy with the new values.
  cp "$gdir/c1.out" "$gdir/c1.before"
  "$gtool" produce "$bs" "$topic" 3000 3000 >/dev/null &
  ppid=$!
  i=0
  while [ $i -lt 200 ] && ! grep -q '^P v[3-5][0-9][0-9][0-9]$' "$gdir/c1.out"; do
    sleep 0.05
    i=$((i + 1))
  done
  kill -KILL $cpid1
  wait $cpid1 2>/dev/null
  killed_out=$gdir/c1.out
  wait $ppid || { stop_consumers $cpid2 $cpid3; return 1; }
  wait_values 6000 "$gdir"/c?.out || { stop_consumers $cpid2 $cpid3; return 1; }
  stop_consumers $cpid2 $cpid3 || return 1
  net_check atleast 0 5999 "$gdir"/c?.out || return 1
  killed_out=
  echo "phase 2: consumer 1 killed; 2 and 3 took over and finished:"
  for c in 2 3; do grep "^$kind-$c assigned" "$gdir/c$c.log" | tail -1 | sed 's/^/  /'; done
  # Phase 3: a restarted broker and a new consumer resume from the commits.
  stop_broker || return 1
  start_broker || return 1
  "$gtool" produce "$bs" "$topic" 6000 600 >/dev/null || return 1
  "$@" consume "$bs" "$topic" "$group" "$kind-4" "$gdir/c4.out" "$gstop" \
    2>"$gdir/c4.log" &
  cpid4=$!
  wait_values 600 "$gdir/c4.out" || { stop_consumers $cpid4; return 1; }
  sleep 1 # nothing more may come
  stop_consumers $cpid4 || return 1
  net_check exact 6000 6599 "$gdir/c4.out" || return 1
  echo "phase 3: after a broker restart, a new consumer resumed from the committed offsets"
}

# The librdkafka group tool (also creates topics and produces for the
# kafka-python and kcat group tests).
gtool=$tmp/rdkafka_group_test
build_gtool() {
  [ -x "$gtool" ] && return 0
  cc -std=c11 -O1 -Wall -Werror -D_POSIX_C_SOURCE=200809L \
    -o "$gtool" "$here/rdkafka_group_test.c" \
    $(pkg-config --cflags --libs rdkafka)
}

test_rdkafka_group() {
  build_gtool || return 1
  group_story rdkafka rd-group rd-g "$gtool"
}

test_kafka_python_group() {
  build_gtool || return 1
  group_story kpython kp-group kp-g "$python" \
    "$here/kafka_python_group_test.py"
}

test_kcat_group() {
  build_gtool || return 1
  "$gtool" create "$bs" kc-group 6 || return 1
  "$gtool" produce "$bs" kc-group 0 6600 || return 1
  # kcat's balanced consumer: reads a whole 6-partition topic (6600 values),
  # committing as it goes; a second run of the same group finds nothing new.
  timeout 60 kcat -b "$bs" -G kcat-g -X auto.offset.reset=earliest \
    -X enable.partition.eof=true -e -q -f '%s\n' kc-group \
    >"$tmp/kcat-g.1" 2>"$tmp/kcat-g.1.err" || { cat "$tmp/kcat-g.1.err"; return 1; }
  n=$(sort -u "$tmp/kcat-g.1" | wc -l)
  [ "$n" -eq 6600 ] || { echo "kcat -G read $n distinct values"; return 1; }
  echo "kcat -G consumed all 6600 values"
  "$gtool" produce "$bs" kc-group 6600 60 >/dev/null || return 1
  timeout 60 kcat -b "$bs" -G kcat-g -X auto.offset.reset=earliest \
    -X enable.partition.eof=true -e -q -f '%s\n' kc-group \
    >"$tmp/kcat-g.2" 2>"$tmp/kcat-g.2.err" || { cat "$tmp/kcat-g.2.err"; return 1; }
  n=$(sort -u "$tmp/kcat-g.2" | wc -l)
  [ "$n" -eq 60 ] || { echo "second kcat -G run read $n values, want 60"; return 1; }
  echo "a second kcat -G run resumed from the group's commits (60 new values)"
  # Incremental cooperative rebalancing (KIP-429): two balanced consumers
  # with cooperative-sticky in one new group; their subscription metadata
  # passes through the coordinator untouched.
  for c in 1 2; do
    timeout 60 kcat -b "$bs" -G kcat-coop -X auto.offset.reset=earliest \
      -X partition.assignment.strategy=cooperative-sticky \
      -X enable.partition.eof=true -e -q -f '%s\n' kc-group \
      >"$tmp/kcat-coop.$c" 2>"$tmp/kcat-coop.$c.err" &
    eval "kpid$c=\$!"
  done
  wait $kpid1 || { cat "$tmp/kcat-coop.1.err"; return 1; }
  wait $kpid2 || { cat "$tmp/kcat-coop.2.err"; return 1; }
  n=$(cat "$tmp/kcat-coop.1" "$tmp/kcat-coop.2" | sort -u | wc -l)
  [ "$n" -eq 6660 ] || { echo "cooperative consumers read $n distinct values"; return 1; }
  echo "two cooperative-sticky kcat -G consumers read all 6660 values" \
    "($(wc -l <"$tmp/kcat-coop.1") + $(wc -l <"$tmp/kcat-coop.2"))"
}

# ---------------------------------------------------------------- KafkaJS

test_kafkajs() {
  KAFKAJS_MODULES=$kafkajs_modules timeout 120 node "$here/kafkajs_test.js" \
    "$bs" kjs-data
}

# -------------------------------------------------------------- bad input

test_bad_input() {
  timeout 180 "$python" "$here/bad_input_test.py" "$bs" "$tmp/idem.state" \
    --pid "$pid" --data "$data" || return 1
  # The stored data is intact.
  timeout 60 kcat -b "$bs" -C -t $kcat_topic -o beginning -e -q \
    -f '%k\t%s\n' >"$tmp/kcat.after" || return 1
  cmp "$tmp/kcat.in" "$tmp/kcat.after" || return 1
  echo "stored data intact after bad input"
}

# ---------------------------------------------------------------- restart

# Start and end offsets of every partition the tests wrote, one line each.
offsets_snapshot() {
  for which in -2 -1; do
    args=
    for tp in kcat-keys:0 kcat-lz4:0 rd-data:0 rd-data:1 kp-gzip:0 kp-gzip:1 \
      kp-gzip:2 raw-idem:0 raw-cfg:0 raw-acks0:0; do
      args="$args -t $tp:$which"
    done
    # shellcheck disable=SC2086
    timeout 30 kcat -b "$bs" -Q $args | sort | sed "s/^/at $which: /" ||
      return 1
  done
}

consume_check() {
  timeout 60 kcat -b "$bs" -C -t $kcat_topic -o beginning -e -q \
    -f '%k\t%s\n' >"$tmp/kcat.restart" || return 1
  cmp "$tmp/kcat.in" "$tmp/kcat.restart"
}

test_clean_restart() {
  offsets_snapshot >"$tmp/offsets.before" || return 1
  stop_broker || return 1
  grep -q "shut down cleanly" "$log" || return 1
  start_broker || return 1
  offsets_snapshot >"$tmp/offsets.after" || return 1
  diff "$tmp/offsets.before" "$tmp/offsets.after" || return 1
  echo "start and end offsets of $(($(wc -l <"$tmp/offsets.after") / 2)) partitions unchanged"
  consume_check || return 1
  echo "data intact after SIGTERM and restart"
  # Appends continue at the right offset.
  printf 'after-restart\tx\n' |
    timeout 20 kcat -b "$bs" -P -t $kcat_topic -K '\t' || return 1
  end=$(timeout 20 kcat -b "$bs" -Q -t $kcat_topic:0:-1) || return 1
  [ "$end" = "$kcat_topic [0] offset $((kcat_messages + 1))" ] ||
    { echo "$end"; return 1; }
  printf 'after-restart\tx\n' >>"$tmp/kcat.in"
  echo "appends continue at offset $kcat_messages"
}

test_clean_restart_idempotence() {
  # The producer state came back from the snapshot written at shutdown.
  timeout 60 "$python" "$here/bad_input_test.py" "$bs" "$tmp/idem.state" \
    --resend
}

test_crash_restart() {
  # The broker flushes every batch (log.flush.interval.messages=1): write,
  # then kill -9 without any shutdown.
  printf 'flushed-1\ty\nflushed-2\tz\n' >"$tmp/more.in"
  timeout 20 kcat -b "$bs" -P -t $kcat_topic -K '\t' <"$tmp/more.in" ||
    return 1
  cat "$tmp/more.in" >>"$tmp/kcat.in"
  sleep 0.5
  offsets_snapshot >"$tmp/offsets.before" || return 1
  kill_broker
  start_broker || return 1
  offsets_snapshot >"$tmp/offsets.after" || return 1
  diff "$tmp/offsets.before" "$tmp/offsets.after" || return 1
  consume_check || return 1
  echo "data intact after kill -9 and restart"
  # The last idempotent batch (written after the snapshot, before the
  # kill) is still known: producer state was rebuilt from the log.
  timeout 60 "$python" "$here/bad_input_test.py" "$bs" "$tmp/idem.state" \
    --resend
}

# ------------------------------------------------------------------- main

note "== conformance: sluice-broker with kcat, librdkafka $(pkg-config --modversion rdkafka), kafka-python, KafkaJS $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$kafkajs_modules/kafkajs/package.json" | head -n 1) ($tmp)"
mkdir -p "$data"
start_broker || exit 1
note "broker on $bs"
run_test kcat-metadata test_kcat_metadata
run_test kcat-produce-consume-100k test_kcat_produce_consume
run_test kcat-offsets test_kcat_offsets
run_test rdkafka test_rdkafka
run_test kafka-python test_kafka_python
run_test rdkafka-group test_rdkafka_group
run_test kafka-python-group test_kafka_python_group
run_test kcat-group test_kcat_group
run_test kafkajs test_kafkajs
run_test bad-input test_bad_input
run_test clean-restart test_clean_restart
run_test clean-restart-idempotence test_clean_restart_idempotence
run_test crash-restart test_crash_restart
if broker_alive; then
  stop_broker || failed=$((failed + 1))
fi
note "== conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
