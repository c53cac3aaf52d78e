#!/bin/sh
# demo.sh BUILD — what `make demo` shows, in well under a minute:
#
#  1. the broker: starts build/bin/sluice-broker on a free loopback port with
#     its data under BUILD/demo/broker, creates a topic with `sluice topics`,
#     produces a generated data set of keyed lines with `sluice produce`,
#     consumes it back with `sluice consume --from-beginning`, compares the
#     two, shows the segment files Kafka would have written, and stops the
#     broker with SIGTERM (a trap stops it on every exit path);
#  2. the simulator: a small cluster under faults, replayed from its seed,
#     and the broker-crash scenario (the broker and client code above, in
#     virtual time, under crashes);
#  3. compute, where built: wordcount over the README.
set -eu
build=${1:-build}
bin="$build/bin"
demo="$build/demo"
bootstrap_timeout_s=10

broker_pid=
cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    # A clean shutdown takes milliseconds; do not wait forever for it.
    i=0
    while kill -0 "$broker_pid" 2>/dev/null && [ "$i" -lt 50 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# client NAME ARGS...: runs a client; its stderr (progress lines) is kept in
# a file and shown only if it fails.
client() {
  timeout 30 "$@" 2> "$demo/client.err" || {
    status=$?
    cat "$demo/client.err" >&2
    return "$status"
  }
}

for prog in sluice-broker sluice sluice-sim; do
  [ -x "$bin/$prog" ] || { echo "demo.sh: $bin/$prog not built (make all)" >&2; exit 1; }
done

# ---------------------------------------------------------------- broker
data="$demo/broker"
rm -rf "$data" "$demo/broker.log" "$demo/produced.txt" "$demo/consumed.txt"
mkdir -p "$data"
echo "== a Kafka broker: sluice-broker on a free loopback port, data in $data"
"$bin/sluice-broker" config/server.properties \
  --override "log.dirs=$data" \
  --override "listeners=PLAINTEXT://127.0.0.1:0" \
  --override "log.segment.bytes=65536" \
  2> "$demo/broker.log" &
broker_pid=$!

# The broker logs "listening on HOST:PORT" once it accepts connections.
addr=
i=0
while [ -z "$addr" ]; do
  addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$demo/broker.log" | head -n 1)
  [ -n "$addr" ] && break
  if ! kill -0 "$broker_pid" 2>/dev/null || [ "$i" -ge $((bootstrap_timeout_s * 10)) ]; then
    echo "demo.sh: the broker did not start:" >&2
    cat "$demo/broker.log" >&2
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
echo "$ sluice-broker config/server.properties --override log.dirs=$data --override listeners=PLAINTEXT://127.0.0.1:0 ..."
sed 's/^/  /' "$demo/broker.log"

topic=readings
echo
echo "$ sluice topics --bootstrap-server $addr --create --topic $topic --partitions 3 --config retention.ms=86400000"
client "$bin/sluice" topics --bootstrap-server "$addr" --create --topic "$topic" \
  --partitions 3 --config retention.ms=86400000
echo "$ sluice topics --bootstrap-server $addr --describe --topic $topic"
client "$bin/sluice" topics --bootstrap-server "$addr" --describe --topic "$topic"

# The data set: 5000 sensor readings "sensor-K<TAB>seq=N temp=T", the key
# choosing the partition (Kafka's murmur2 partitioner), so each sensor's
# readings stay in order in one partition.
records=5000
awk -v n="$records" 'BEGIN {
  for (i = 0; i < n; i++)
    printf "sensor-%02d\tseq=%d temp=%.1f\n", i % 24, i, 15 + ((i * 7919) % 200) / 10
}' > "$demo/produced.txt"
echo
echo "$ head -n 3 produced.txt   # $records keyed lines (KEY<TAB>VALUE)"
head -n 3 "$demo/produced.txt" | sed 's/^/  /'
echo "$ sluice produce --bootstrap-server $addr --topic $topic --key-separator TAB --acks -1 < produced.txt"
start_ns=$(date +%s%N)
client "$bin/sluice" produce --bootstrap-server "$addr" --topic "$topic" \
  --key-separator TAB --acks -1 < "$demo/produced.txt"
produce_ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "  produced $records records in $produce_ms ms"

echo "$ sluice consume --bootstrap-server $addr --topic $topic --from-beginning --print-key --max-messages $records"
start_ns=$(date +%s%N)
client "$bin/sluice" consume --bootstrap-server "$addr" --topic "$topic" \
  --from-beginning --print-key --max-messages "$records" --timeout-ms 10000 \
  > "$demo/consumed.txt"
consume_ms=$((($(date +%s%N) - start_ns) / 1000000))
consumed=$(wc -l < "$demo/consumed.txt")
echo "  consumed $consumed records in $consume_ms ms; the first three:"
head -n 3 "$demo/consumed.txt" | sed 's/^/  /'

# Across partitions the order interleaves; per key it must be the order
# produced, and as a set the records must be exactly those produced.
sort "$demo/produced.txt" > "$demo/produced.sorted"
sort "$demo/consumed.txt" > "$demo/consumed.sorted"
if cmp -s "$demo/produced.sorted" "$demo/consumed.sorted"; then
  echo "  the consumed records are exactly the produced ones"
else
  echo "demo.sh: consumed records differ from the produced ones" >&2
  exit 1
fi
for key in sensor-07; do
  grep "^$key	" "$demo/produced.txt" > "$demo/key.produced"
  grep "^$key	" "$demo/consumed.txt" > "$demo/key.consumed"
  if cmp -s "$demo/key.produced" "$demo/key.consumed"; then
    echo "  $key: $(wc -l < "$demo/key.consumed") readings, in the order produced"
  else
    echo "demo.sh: $key's readings came back out of order" >&2
    exit 1
  fi
done
rm -f "$demo/produced.sorted" "$demo/consumed.sorted" "$demo/key.produced" \
  "$demo/key.consumed" "$demo/client.err"

echo "$ sluice consume ... --partition 1 --offset 100 --max-messages 2"
client "$bin/sluice" consume --bootstrap-server "$addr" --topic "$topic" \
  --partition 1 --offset 100 --print-key --max-messages 2 --timeout-ms 10000 | sed 's/^/  /'

echo
echo "== stop the broker (SIGTERM: flush, checkpoints) and look at its files"
kill -TERM "$broker_pid"
wait "$broker_pid" && status=0 || status=$?
broker_pid=
echo "  sluice-broker exited with status $status"
tail -n 2 "$demo/broker.log" | sed 's/^/  /'
echo "$ ls -l $data/$topic-0   # Kafka's segment files (log.segment.bytes=65536)"
(cd "$data/$topic-0" && ls -l | awk 'NR > 1 { printf "  %10s  %s\n", $5, $9 }')
echo "$ cat $data/recovery-point-offset-checkpoint"
sed 's/^/  /' "$data/recovery-point-offset-checkpoint"

# ------------------------------------------------------------- simulator
seed=42
echo
echo "== the simulator: a 3-node cluster under partitions, resets and crashes (seed $seed)"
"$bin/sluice-sim" selftest --seed "$seed" --nodes 3
echo "== the same seed again: the trace hash must be identical"
"$bin/sluice-sim" selftest --seed "$seed" --nodes 3 | tail -n 1
echo "== the same broker and client code in the simulator: broker crashes, torn writes, partitions (seed $seed)"
"$bin/sluice-sim" run --scenario broker-crash --seed "$seed" --stats

# --------------------------------------------------------------- compute
if [ -x "$bin/sluice-job" ]; then
  out="$demo/wordcount"
  rm -rf "$out"
  echo
  echo "== wordcount over the project's README with 2 executors"
  "$bin/sluice-job" wordcount --input README.md --output "$out" --executors 2
  echo "top words:"
  cat "$out"/part-* | sort -t "$(printf '\t')" -k2,2nr | head -n 5
fi
