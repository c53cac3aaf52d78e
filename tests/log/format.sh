#!/bin/sh
# format.sh BUILD — the partition log's files follow Kafka's published
# format: sluice-log writes logs (several segments, sparse indexes, keys,
# tombstones, gzip batches, leader epochs, a compaction pass), and an
# independent Python reader (tests/conformance/kafka_log_format.py,
# standard library only, its own CRC-32C) parses every batch, checks every
# CRC and every index entry. Also runs sluice-log verify and dump.
set -eu
build=${1:-build}
bin="$build/bin/sluice-log"
py=/usr/bin/python3
script=tests/conformance/kafka_log_format.py
[ -x "$bin" ] || { echo "format.sh: $bin missing (build it first)"; exit 1; }
[ -x "$py" ] || { echo "format.sh: $py missing"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-log-format-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$py" "$script" --self-test

# Many small segments, default-ish records, epochs 0 then 2.
"$bin" write "$tmp/plain-0" --batches 400 --records 3 --value-bytes 60 \
  --segment-bytes 16384 --index-interval-bytes 1024 --seed 1
"$bin" write "$tmp/plain-0" --batches 100 --records 7 --value-bytes 10 \
  --segment-bytes 16384 --index-interval-bytes 1024 --epoch 2 --seed 2
# Keyed, with tombstones and gzip batches, then compacted.
"$bin" write "$tmp/keyed-0" --batches 300 --records 5 --keys 25 \
  --tombstones 20 --value-bytes 30 --segment-bytes 8192 \
  --index-interval-bytes 512 --seed 3
"$bin" write "$tmp/keyed-0" --batches 60 --records 4 --keys 25 \
  --codec gzip --segment-bytes 8192 --index-interval-bytes 512 --seed 4
"$bin" compact "$tmp/keyed-0" --delete-retention-ms 0
# One big batch per segment, and every index interval.
"$bin" write "$tmp/big-0" --batches 12 --records 200 --value-bytes 900 \
  --segment-bytes 400000 --index-interval-bytes 0 --seed 5

for d in "$tmp/plain-0" "$tmp/keyed-0" "$tmp/big-0"; do
  "$bin" verify "$d"
  "$py" "$script" "$d"
done
"$bin" dump "$tmp/plain-0/00000000000000000000.log" --records >"$tmp/dump.txt"
grep -q "isvalid: true" "$tmp/dump.txt"
if grep -q "isvalid: false" "$tmp/dump.txt"; then
  echo "format.sh: dump reports an invalid batch"; exit 1
fi

# The reader is not blind: a flipped byte is reported.
printf '\377' | dd of="$tmp/plain-0/00000000000000000000.log" bs=1 seek=100 \
  conv=notrunc 2>/dev/null
if "$py" "$script" --quiet "$tmp/plain-0" >/dev/null; then
  echo "format.sh: the reader missed a corrupted byte"; exit 1
fi
if "$bin" verify "$tmp/plain-0" >/dev/null; then
  echo "format.sh: sluice-log verify missed a corrupted byte"; exit 1
fi
echo "format.sh: ok"
