#!/bin/sh
# wordcount.sh BUILD — sluice-job wordcount on real text (the license texts
# Debian ships) must equal `tr -s '[:space:]' '\n' | sort | uniq -c`, with
# 1 and 3 executors, a roomy and a tiny memory budget (spilling shuffles),
# and the input given as a directory of files. Also checks --dag and that a
# missing input fails with a message and a non-zero status.
set -eu
build=${1:-build}
job="$build/bin/sluice-job"
export LC_ALL=C
# Sanitizer builds: Graphviz's own caches are not our leaks.
LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
src=/usr/share/common-licenses
[ -d "$src" ] || { echo "wordcount.sh: $src missing, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The reference, file by file (a file may lack its final newline).
for f in "$src"/*; do
  [ -f "$f" ] || continue
  tr -s '[:space:]' '\n' < "$f"
  echo
done | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}' > "$tmp/want"

run() {
  name=$1; shift
  "$job" wordcount --input "$src" --output "$tmp/$name" --quiet "$@"
  cat "$tmp/$name"/part-* > "$tmp/$name.txt"
  [ -e "$tmp/$name/_SUCCESS" ] || { echo "FAIL $name: no _SUCCESS"; exit 1; }
  if cmp -s "$tmp/want" "$tmp/$name.txt"; then
    echo "ok   wordcount $name ($(wc -l < "$tmp/want") distinct words)"
  else
    echo "FAIL wordcount $name"; diff "$tmp/want" "$tmp/$name.txt" | head; exit 1
  fi
}
run one-executor --executors 1 --partitions 4
run three-executors --executors 3 --partitions 7 --dag "$tmp/dag.svg"
run tiny-memory --executors 2 --partitions 3 --memory 256K
grep -q '<svg' "$tmp/dag.svg" || { echo "FAIL: --dag did not write SVG"; exit 1; }
echo "ok   --dag wrote $(wc -c < "$tmp/dag.svg") bytes of SVG"

if "$job" wordcount --input "$tmp/missing" --output "$tmp/x" --quiet 2> "$tmp/err"; then
  echo "FAIL: missing input did not fail"; exit 1
fi
grep -q 'cannot' "$tmp/err" || { echo "FAIL: no error message"; exit 1; }
echo "ok   missing input: $(cat "$tmp/err")"
