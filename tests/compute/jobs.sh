#!/bin/sh
# jobs.sh BUILD — the example jobs of sluice-job against answers computed
# here by other means, each with 1 and 2 executors and a tiny memory budget
# (spilling shuffles, a cache too small for the persisted datasets):
#
#   pagerank  ranks equal an awk implementation of the same iteration
#             (Spark's example: links from distinct edges, rank 1.0 for
#             pages with out-links, rank = 0.15 + 0.85 * sum of shares);
#   kmeans    centers equal an awk Lloyd's iteration from the same first
#             k points, and every center is the mean of the points nearest
#             to it (a fixed point);
#   join      equals coreutils `join` on stably sorted inputs, duplicates
#             on both sides included;
#   terasort  output equals `LC_ALL=C sort` of the teragen records (so it
#             is sorted and a permutation of the input);
#   groupsum  equals an awk sum per key;
#
# and the progress bar: `[Stage N:` appears on stderr when it is a terminal
# (run under script(1)), and never when stderr is a file.
set -eu
build=${1:-build}
job="$build/bin/sluice-job"
export LC_ALL=C
LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tab=$(printf '\t')
configs="1:4:256K 2:3:256K" # executors:partitions:memory

fail() { echo "FAIL $*"; exit 1; }

# ----------------------------------------------------------------- pagerank
# 40 pages, 160 random edges from an LCG, plus duplicates, a self-loop, a
# comment, a line with three words (skipped) and a page without out-links.
awk 'BEGIN {
  s = 12345
  print "# src dst"
  for (i = 0; i < 160; i++) {
    s = (s * 69069 + 1) % 4294967296; a = int(s / 65536) % 40
    s = (s * 69069 + 1) % 4294967296; b = int(s / 65536) % 40
    printf "p%02d p%02d\n", a, b
    if (i % 17 == 0) printf "p%02d\tp%02d\n", a, b
  }
  print "p07 p07"; print "p01 p02 p03"; print "p03 sink"
}' > "$tmp/edges.txt"
iterations=12
awk -v iters=$iterations '
  !/^#/ && NF == 2 {
    if (!(($1, $2) in seen)) { seen[$1, $2] = 1; deg[$1]++; adj[$1, deg[$1]] = $2 }
  }
  END {
    for (p in deg) rank[p] = 1.0
    for (it = 0; it < iters; it++) {
      for (t in contrib) delete contrib[t]
      for (p in rank)
        if (p in deg)
          for (i = 1; i <= deg[p]; i++) contrib[adj[p, i]] += rank[p] / deg[p]
      for (p in rank) delete rank[p]
      for (t in contrib) rank[t] = 0.15 + 0.85 * contrib[t]
    }
    for (p in rank) printf "%s\t%.17g\n", p, rank[p]
  }' "$tmp/edges.txt" | sort > "$tmp/pr-want.txt"
for c in $configs; do
  e=${c%%:*}; rest=${c#*:}; p=${rest%%:*}; m=${rest#*:}
  rm -rf "$tmp/pr-$e"
  "$job" pagerank --input "$tmp/edges.txt" --output "$tmp/pr-$e" \
    --iterations $iterations --executors "$e" --partitions "$p" --memory "$m" \
    --quiet 2> "$tmp/pr.err" || { cat "$tmp/pr.err"; fail "pagerank ($e executors)"; }
  cat "$tmp/pr-$e"/part-* > "$tmp/pr-got-$e.txt"
  cut -f1 "$tmp/pr-want.txt" > "$tmp/pr-want-pages"
  cut -f1 "$tmp/pr-got-$e.txt" > "$tmp/pr-got-pages"
  cmp -s "$tmp/pr-want-pages" "$tmp/pr-got-pages" ||
    { diff "$tmp/pr-want-pages" "$tmp/pr-got-pages" | head; fail "pagerank pages ($e executors)"; }
  paste "$tmp/pr-want.txt" "$tmp/pr-got-$e.txt" | awk -F '\t' '
    { d = $2 - $4; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
      if (d > 1e-9 * (m > 1 ? m : 1)) { print "  " $1 ": want " $2 ", got " $4; bad++ } }
    END { exit bad > 0 }' || fail "pagerank ranks ($e executors)"
done
# Floating-point sums depend on how contributions are grouped, so ranks
# are compared with a tolerance above; with the same partitioning the
# bytes must not depend on the number of executors.
"$job" pagerank --input "$tmp/edges.txt" --output "$tmp/pr-same" \
  --iterations $iterations --executors 2 --partitions 4 --memory 256K --quiet
cat "$tmp/pr-same"/part-* | cmp -s - "$tmp/pr-got-1.txt" ||
  fail "pagerank: 1 and 2 executors differ with the same partitions"
echo "ok   pagerank: $(wc -l < "$tmp/pr-want.txt") ranks after $iterations iterations equal the awk reference (1 and 2 executors, 256K budget)"

# ------------------------------------------------------------------- kmeans
# 900 points in three blobs, interleaved, from an LCG; the first three
# (the initial centers) are in two blobs, so Lloyd's needs a few rounds.
awk 'BEGIN {
  s = 777
  for (i = 0; i < 900; i++) {
    b = i < 3 ? int(i / 2) : i % 3
    s = (s * 69069 + 1) % 4294967296; dx = s / 4294967296 - 0.5
    s = (s * 69069 + 1) % 4294967296; dy = s / 4294967296 - 0.5
    printf "%.4f %.4f\n", b * 10 + dx * 3, (b == 1 ? 8 : 0) + dy * 3
  }
}' > "$tmp/points.txt"
k=3
iterations=30
awk -v k=$k -v iters=$iterations '
  { n++; x[n] = $1; y[n] = $2 }
  END {
    for (c = 1; c <= k; c++) { cx[c] = x[c]; cy[c] = y[c] }
    for (it = 0; it < iters; it++) {
      for (c = 1; c <= k; c++) { sx[c] = 0; sy[c] = 0; cnt[c] = 0 }
      for (i = 1; i <= n; i++) {
        best = 0
        for (c = 1; c <= k; c++) {
          d = (x[i] - cx[c]) ^ 2 + (y[i] - cy[c]) ^ 2
          if (best == 0 || d < bd) { best = c; bd = d }
        }
        sx[best] += x[i]; sy[best] += y[i]; cnt[best]++
      }
      moved = 0
      for (c = 1; c <= k; c++) {
        if (cnt[c] == 0) continue
        nx = sx[c] / cnt[c]; ny = sy[c] / cnt[c]
        m = sqrt((nx - cx[c]) ^ 2 + (ny - cy[c]) ^ 2); if (m > moved) moved = m
        cx[c] = nx; cy[c] = ny
      }
      if (moved < 1e-9) break
    }
    for (c = 1; c <= k; c++) printf "%d\t%.6f %.6f\n", c - 1, cx[c], cy[c]
  }' "$tmp/points.txt" > "$tmp/km-want.txt"
for c in $configs; do
  e=${c%%:*}; rest=${c#*:}; p=${rest%%:*}; m=${rest#*:}
  got="$tmp/km-$e.stdout"
  "$job" kmeans --input "$tmp/points.txt" --k $k --iterations $iterations \
    --executors "$e" --partitions "$p" --memory "$m" --quiet \
    > "$got" 2> "$tmp/km.err" || { cat "$tmp/km.err"; fail "kmeans ($e executors)"; }
  [ "$(wc -l < "$got")" -eq $k ] || { cat "$got"; fail "kmeans: not $k centers ($e executors)"; }
  paste "$tmp/km-want.txt" "$got" | awk -F '[\t ]' '
    { for (j = 2; j <= 3; j++) { d = $j - $(j + 3); if (d < 0) d = -d
        if (d > 2e-6) { print "  center " $1 ": want " $2 " " $3 ", got " $5 " " $6; bad++ } } }
    END { exit bad > 0 }' || fail "kmeans centers against the reference ($e executors)"
  # Fixed point: each center is the mean of the points nearest to it.
  awk -v k=$k -F '[\t ]' '
    NR == FNR { cx[$1] = $2; cy[$1] = $3; next }
    { best = -1
      for (c = 0; c < k; c++) { d = ($1 - cx[c]) ^ 2 + ($2 - cy[c]) ^ 2
        if (best < 0 || d < bd) { best = c; bd = d } }
      sx[best] += $1; sy[best] += $2; cnt[best]++ }
    END {
      for (c = 0; c < k; c++) {
        if (!cnt[c]) continue
        if ((sx[c] / cnt[c] - cx[c]) ^ 2 + (sy[c] / cnt[c] - cy[c]) ^ 2 > 1e-10) {
          print "  center " c " is not the mean of its points"; bad++ } }
      exit bad > 0
    }' "$got" "$tmp/points.txt" || fail "kmeans fixed point ($e executors)"
done
echo "ok   kmeans: $k centers equal the awk Lloyd's reference and are fixed points (1 and 2 executors, 256K budget)"

# --------------------------------------------------------------------- join
# Keys k00..k29 on the left, k10..k44 on the right, several values per key
# on both sides (so matching keys give every pair), in random order.
awk -v tab="$tab" 'BEGIN {
  s = 99
  for (i = 0; i < 400; i++) {
    s = (s * 69069 + 1) % 4294967296
    printf "k%02d%sL%03d\n", int(s / 65536) % 30, (i % 2 ? tab : " "), i
  }
}' > "$tmp/left.txt"
awk 'BEGIN {
  s = 4242
  for (i = 0; i < 300; i++) {
    s = (s * 69069 + 1) % 4294967296
    printf "k%02d\tR%03d\n", 10 + int(s / 65536) % 35, i
  }
}' > "$tmp/right.txt"
# coreutils join wants both sides sorted on the key; -s keeps the file
# order of equal keys, which is the order Sluice's stable shuffle keeps.
tr ' ' '\t' < "$tmp/left.txt" | sort -s -t "$tab" -k1,1 > "$tmp/left.sorted"
sort -s -t "$tab" -k1,1 "$tmp/right.txt" > "$tmp/right.sorted"
join -t "$tab" "$tmp/left.sorted" "$tmp/right.sorted" > "$tmp/join-want.txt"
for c in $configs; do
  e=${c%%:*}; rest=${c#*:}; p=${rest%%:*}; m=${rest#*:}
  rm -rf "$tmp/jn-$e"
  "$job" join --left "$tmp/left.txt" --right "$tmp/right.txt" --output "$tmp/jn-$e" \
    --executors "$e" --partitions "$p" --memory "$m" --quiet 2> "$tmp/jn.err" ||
    { cat "$tmp/jn.err"; fail "join ($e executors)"; }
  cat "$tmp/jn-$e"/part-* > "$tmp/join-got-$e.txt"
  cmp -s "$tmp/join-want.txt" "$tmp/join-got-$e.txt" ||
    { diff "$tmp/join-want.txt" "$tmp/join-got-$e.txt" | head; fail "join against coreutils join ($e executors)"; }
done
echo "ok   join: $(wc -l < "$tmp/join-want.txt") pairs equal coreutils join (1 and 2 executors, 256K budget)"

# ----------------------------------------------------------------- terasort
"$job" teragen --records 30000 --output "$tmp/tera" --partitions 3 --quiet
cat "$tmp"/tera/part-* | sort > "$tmp/tera-want.txt"
[ "$(wc -l < "$tmp/tera-want.txt")" -eq 30000 ] || fail "teragen: not 30000 records"
for c in $configs; do
  e=${c%%:*}; rest=${c#*:}; p=${rest%%:*}; m=${rest#*:}
  rm -rf "$tmp/ts-$e"
  "$job" terasort --input "$tmp/tera" --output "$tmp/ts-$e" --executors "$e" \
    --partitions "$p" --memory "$m" --quiet 2> "$tmp/ts.err" ||
    { cat "$tmp/ts.err"; fail "terasort ($e executors)"; }
  [ -e "$tmp/ts-$e/_SUCCESS" ] || fail "terasort: no _SUCCESS"
  cat "$tmp/ts-$e"/part-* > "$tmp/tera-got-$e.txt"
  cmp -s "$tmp/tera-want.txt" "$tmp/tera-got-$e.txt" || fail "terasort against sort ($e executors)"
done
echo "ok   terasort: 30000 records sorted, equal to LC_ALL=C sort of the input (1 and 2 executors, 256K budget)"

# ----------------------------------------------------------------- groupsum
awk 'BEGIN {
  s = 31337
  for (i = 0; i < 20000; i++) {
    s = (s * 69069 + 1) % 4294967296
    printf "key%d\t%d\n", int(s / 65536) % 997, int(s / 4096) % 2001 - 1000
  }
  print "no tab here"; print "bad\tnumber"; print "k\t-"
}' > "$tmp/kv.txt"
awk -F '\t' 'NF >= 2 && $2 ~ /^-?[0-9]+$/ { sum[$1] += $2 }
  END { for (k in sum) printf "%s\t%d\n", k, sum[k] }' "$tmp/kv.txt" | sort > "$tmp/gs-want.txt"
for c in $configs; do
  e=${c%%:*}; rest=${c#*:}; p=${rest%%:*}; m=${rest#*:}
  rm -rf "$tmp/gs-$e"
  "$job" groupsum --input "$tmp/kv.txt" --output "$tmp/gs-$e" --executors "$e" \
    --partitions "$p" --memory "$m" --quiet 2> "$tmp/gs.err" ||
    { cat "$tmp/gs.err"; fail "groupsum ($e executors)"; }
  cat "$tmp/gs-$e"/part-* > "$tmp/gs-got-$e.txt"
  cmp -s "$tmp/gs-want.txt" "$tmp/gs-got-$e.txt" ||
    { diff "$tmp/gs-want.txt" "$tmp/gs-got-$e.txt" | head; fail "groupsum against awk ($e executors)"; }
done
echo "ok   groupsum: $(wc -l < "$tmp/gs-want.txt") sums equal awk (1 and 2 executors, 256K budget)"

# ------------------------------------------------------------- progress bar
# Under script(1) stderr is a pseudo-terminal: the bar must be drawn. With
# stderr redirected to a file it must not be.
wc_args="wordcount --input $tmp/kv.txt --partitions 6 --executors 2 --quiet"
if command -v script > /dev/null 2>&1; then
  rm -rf "$tmp/bar-tty"
  script -qec "$job $wc_args --output $tmp/bar-tty" /dev/null \
    < /dev/null > "$tmp/tty.log" 2>&1 || { cat "$tmp/tty.log"; fail "job under script(1)"; }
  grep -q '\[Stage [0-9]*:' "$tmp/tty.log" ||
    { od -c "$tmp/tty.log" | head; fail "no progress bar on a terminal"; }
  echo "ok   progress bar drawn when stderr is a terminal: $(grep -o '\[Stage [0-9]*:[^]]*]' "$tmp/tty.log" | tail -1)"
else
  echo "skip progress bar on a terminal: script(1) missing"
fi
rm -rf "$tmp/bar-file"
# shellcheck disable=SC2086
"$job" $wc_args --output "$tmp/bar-file" 2> "$tmp/file.err"
if grep -q 'Stage' "$tmp/file.err"; then
  fail "progress bar written to a file"
fi
echo "ok   no progress bar when stderr is a file ($(wc -c < "$tmp/file.err") bytes on stderr)"
