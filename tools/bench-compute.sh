#!/bin/sh
# bench-compute.sh BUILD — the compute engine's benchmark (issue 6), run by
# tools/bench.sh. Every figure is printed next to a baseline measured in the
# same run, programs alternating round by round (the machine is shared):
#
#   wordcount   sluice-job wordcount, 1 and 2 executors, against
#               `bench-baseline wordcount` (hand-written single-threaded C,
#               open-addressing hash table) on a generated Zipf text corpus;
#   groupsum    sluice-job groupsum (key<TAB>int64 lines, sum per key)
#               against `bench-baseline groupsum`;
#   terasort    sluice-job terasort on teragen records against
#               `LC_ALL=C sort` of the same records;
#   memory      peak RSS (wait4's ru_maxrss) of every sluice run against its
#               --memory budget, plus runs with a tiny budget.
#
# Ratios are baseline time / sluice time (above 1: Sluice is faster), from
# the best time of each program over BENCH_ROUNDS rounds. Outputs are
# compared byte for byte, so both sides did the same work. Targets are
# reported as met or not; missing one does not fail the script.
#
# Knobs (environment): BENCH_TEXT_BYTES (300000000), BENCH_KV_BYTES
# (200000000), BENCH_TERA_RECORDS (2000000), BENCH_ROUNDS (3),
# BENCH_MEMORY (256M), BENCH_TINY_MEMORY (16M), BENCH_KEEP=1 keeps the
# corpora and outputs in BUILD/bench-compute.
set -eu
build=${1:-build}
job="$build/bin/sluice-job"
base="$build/bin/bench-baseline"
export LC_ALL=C
text_bytes=${BENCH_TEXT_BYTES:-300000000}
kv_bytes=${BENCH_KV_BYTES:-200000000}
tera_records=${BENCH_TERA_RECORDS:-2000000}
rounds=${BENCH_ROUNDS:-3}
memory=${BENCH_MEMORY:-256M}
tiny=${BENCH_TINY_MEMORY:-16M}
overhead_mib=16 # fixed overhead allowed over the budget: code, stacks, buffers
parts=4
for b in "$job" "$base"; do
  [ -x "$b" ] || { echo "bench-compute: $b missing (build it first)"; exit 0; }
done
work="$build/bench-compute"
rm -rf "$work"
mkdir -p "$work"
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
times="$work/times"
: > "$times"
start=$(date +%s)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
budget_mib() { # 256M / 16M / 1G / bytes -> MiB
  awk -v s="$1" 'BEGIN { n = s + 0; u = substr(s, length(s));
    if (u == "K" || u == "k") n /= 1024; else if (u == "M" || u == "m") n = n;
    else if (u == "G" || u == "g") n *= 1024; else n /= 1048576; print n }'
}

# timed NAME CMD... — runs CMD under `bench-baseline time`, appends
# "NAME seconds maxrss_kib" to $times; stops the benchmark if CMD fails.
timed() {
  name=$1; shift
  if ! "$base" time "$work/report" "$@" > "$work/log" 2>&1; then
    echo "bench-compute: '$name' failed:"; cat "$work/log"; exit 1
  fi
  read -r secs rss status < "$work/report"
  echo "$name $secs $rss" >> "$times"
}

# table TITLE BASELINE_LABEL:BASELINE_NAME LABEL:NAME:TARGET... — best
# time per program, the runs, ratio against the baseline, peak RSS, and
# whether each target was met.
table() {
  title=$1; ref=${2#*:}; ref_label=${2%%:*}; shift 2
  echo "$title"
  printf '  %-26s %8s  %-24s %7s %10s\n' program "best s" "runs (s)" ratio "peak RSS"
  for spec in "$ref_label:$ref:-" "$@"; do
    label=${spec%%:*}; rest=${spec#*:}; name=${rest%%:*}; target=${rest#*:}
    awk -v name="$name" -v ref="$ref" -v label="$label" -v target="$target" '
      $1 == ref  { if (rb == "" || $2 < rb) rb = $2 }
      $1 == name { runs = runs sprintf("%.2f ", $2)
                   if (b == "" || $2 < b) b = $2
                   if ($3 > rss) rss = $3 }
      END {
        ratio = b > 0 ? rb / b : 0
        printf "  %-26s %8.2f  %-24s %7.2f %6.1f MiB\n", label, b, runs, ratio, rss / 1024
        if (target != "-")
          printf "    target >= %.1f: %s\n", target, (ratio >= target ? "met" : "NOT met")
      }' "$times"
  done
}

same() { # same WHAT FILE_A FILE_B
  if cmp -s "$2" "$3"; then echo "  outputs identical ($1)"
  else echo "  OUTPUTS DIFFER ($1): $2 $3"; exit 1; fi
}

echo "compute benchmark: $(nproc) cores (shared), $rounds rounds, --memory $memory, --partitions $parts"

# ------------------------------------------------------------------ corpora
"$base" textgen --output "$work/text.txt" --bytes "$text_bytes" --seed 1
"$base" kvgen --output "$work/kv.txt" --bytes "$kv_bytes" --seed 2
"$job" teragen --records "$tera_records" --output "$work/tera" \
  --partitions "$parts" --quiet
echo "corpora generated in $(($(date +%s) - start)) s"

sluice() { # sluice NAME JOB EXECUTORS MEMORY INPUT
  rm -rf "$work/out-$1"
  timed "$1" "$job" "$2" --input "$5" --output "$work/out-$1" \
    --executors "$3" --partitions "$parts" --memory "$4" --quiet
}

# ---------------------------------------------------------------- wordcount
r=0
while [ $r -lt "$rounds" ]; do
  for k in 0 1 2; do
    case $(((k + r) % 3)) in
    0) timed wc-base "$base" wordcount "$work/text.txt" "$work/wc-base.txt" ;;
    1) sluice wc-1 wordcount 1 "$memory" "$work/text.txt" ;;
    2) sluice wc-2 wordcount 2 "$memory" "$work/text.txt" ;;
    esac
  done
  r=$((r + 1))
done
cat "$work"/out-wc-1/part-* > "$work/wc-1.txt"
cat "$work"/out-wc-2/part-* > "$work/wc-2.txt"
words=$(awk '{ n += $2 } END { print n }' "$work/wc-base.txt")
echo
table "wordcount: $(mib $(($(wc -c < "$work/text.txt") / 1024))) MiB of text, $words words, $(wc -l < "$work/wc-base.txt") distinct" \
  "hand-written C:wc-base" "sluice, 1 executor:wc-1:0.6" "sluice, 2 executors:wc-2:1.0"
same "wordcount, 1 executor" "$work/wc-base.txt" "$work/wc-1.txt"
same "wordcount, 2 executors" "$work/wc-base.txt" "$work/wc-2.txt"

# ----------------------------------------------------------------- groupsum
r=0
while [ $r -lt "$rounds" ]; do
  for k in 0 1 2; do
    case $(((k + r) % 3)) in
    0) timed gs-base "$base" groupsum "$work/kv.txt" "$work/gs-base.txt" ;;
    1) sluice gs-1 groupsum 1 "$memory" "$work/kv.txt" ;;
    2) sluice gs-2 groupsum 2 "$memory" "$work/kv.txt" ;;
    esac
  done
  r=$((r + 1))
done
cat "$work"/out-gs-1/part-* > "$work/gs-1.txt"
cat "$work"/out-gs-2/part-* > "$work/gs-2.txt"
echo
table "group-by-sum: $(mib $(($(wc -c < "$work/kv.txt") / 1024))) MiB, $(wc -l < "$work/kv.txt") key<TAB>int64 lines, $(wc -l < "$work/gs-base.txt") distinct keys" \
  "hand-written C:gs-base" "sluice, 1 executor:gs-1:0.6" "sluice, 2 executors:gs-2:1.0"
same "group-by-sum, 1 executor" "$work/gs-base.txt" "$work/gs-1.txt"
same "group-by-sum, 2 executors" "$work/gs-base.txt" "$work/gs-2.txt"

# ----------------------------------------------------------------- terasort
r=0
while [ $r -lt "$rounds" ]; do
  for k in 0 1 2; do
    case $(((k + r) % 3)) in
    0) timed ts-sort sort -o "$work/ts-sort.txt" "$work"/tera/part-* ;;
    1) sluice ts-1 terasort 1 "$memory" "$work/tera" ;;
    2) sluice ts-2 terasort 2 "$memory" "$work/tera" ;;
    esac
  done
  r=$((r + 1))
done
cat "$work"/out-ts-2/part-* > "$work/ts-2.txt"
echo
table "terasort: $tera_records records of 100 bytes ($(mib $(($(cat "$work"/tera/part-* | wc -c) / 1024))) MiB); baseline LC_ALL=C sort (its default threads and buffer)" \
  "LC_ALL=C sort:ts-sort" "sluice, 1 executor:ts-1:-" "sluice, 2 executors:ts-2:-"
same "terasort, 2 executors, against sort" "$work/ts-sort.txt" "$work/ts-2.txt"

# ------------------------------------------------------------------- memory
sluice wc-tiny wordcount 2 "$tiny" "$work/text.txt"
sluice gs-tiny groupsum 2 "$tiny" "$work/kv.txt"
sluice ts-tiny terasort 2 "$tiny" "$work/tera"
cat "$work"/out-wc-tiny/part-* > "$work/wc-tiny.txt"
cat "$work"/out-gs-tiny/part-* > "$work/gs-tiny.txt"
cat "$work"/out-ts-tiny/part-* > "$work/ts-tiny.txt"
echo
echo "peak memory (ru_maxrss) against the --memory budget; allowed: budget + $overhead_mib MiB fixed overhead"
printf '  %-34s %8s %10s %10s  %s\n' run budget "peak RSS" time verdict
for spec in "wordcount, 1 executor:wc-1:$memory" "wordcount, 2 executors:wc-2:$memory" \
  "group-by-sum, 1 executor:gs-1:$memory" "group-by-sum, 2 executors:gs-2:$memory" \
  "terasort, 1 executor:ts-1:$memory" "terasort, 2 executors:ts-2:$memory" \
  "wordcount, 2 executors:wc-tiny:$tiny" "group-by-sum, 2 executors:gs-tiny:$tiny" \
  "terasort, 2 executors:ts-tiny:$tiny"; do
  label=${spec%%:*}; rest=${spec#*:}; name=${rest%%:*}; mem=${rest#*:}
  awk -v name="$name" -v label="$label" -v mem="$mem" -v budget="$(budget_mib "$mem")" \
    -v over="$overhead_mib" '
    $1 == name { if ($3 > rss) rss = $3; if (b == "" || $2 < b) b = $2 }
    END {
      peak = rss / 1024
      printf "  %-34s %8s %6.1f MiB %8.2f s  %s\n", label, mem, peak, b,
             (peak <= budget + over ? "within" : "OVER")
    }' "$times"
done
same "wordcount, --memory $tiny" "$work/wc-base.txt" "$work/wc-tiny.txt"
same "group-by-sum, --memory $tiny" "$work/gs-base.txt" "$work/gs-tiny.txt"
same "terasort, --memory $tiny" "$work/ts-sort.txt" "$work/ts-tiny.txt"
echo
echo "compute benchmark: $(($(date +%s) - start)) s in all"
