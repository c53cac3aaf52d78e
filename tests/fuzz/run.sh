#!/bin/sh
# run.sh BUILD SECONDS — builds every libFuzzer target in tests/fuzz/
# (fuzz_*.c) with clang, -fsanitize=fuzzer,address,undefined, and runs each
# for SECONDS seconds (default 60) from a seed corpus written by seeds.c.
# Corpora and crash files go to BUILD/fuzz/. Each target first replays its
# regression inputs, tests/fuzz/regress/NAME/* (inputs that once crashed it;
# keep every one). Exits non-zero if a target crashes on any input (the
# reproducer is printed), or if libFuzzer is missing.
#
#   sh tests/fuzz/run.sh build 60
#   BUILD/fuzz/fuzz_proto CRASH_FILE       # replay a crash
#
# Sources are linked directly (no library build needed), so this works
# from a clean tree.
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-60}
out="$build/fuzz"
mkdir -p "$out"

command -v clang >/dev/null 2>&1 || { echo "fuzz: clang missing (make deps)"; exit 1; }
probe="$out/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! clang -fsanitize=fuzzer "$probe" -o "$out/probe" 2>/dev/null; then
  echo "fuzz: clang has no libFuzzer runtime (-fsanitize=fuzzer failed)"
  exit 1
fi

pkgs="glib-2.0 zlib liblz4 libzstd snappy"
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -I. -fno-omit-frame-pointer $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lm"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

base_src="base/buf.c base/varint.c base/assert.c base/crc32c.c broker/kerr.c"
proto_src="$base_src base/rxbuf.c $(ls broker/proto/*.c)"
batch_src="$base_src broker/log/batch.c broker/log/compress.c"

# Source files each target needs, by target name.
sources() {
  case "$1" in
  fuzz_proto) echo "$proto_src" ;;
  fuzz_batch) echo "$batch_src" ;;
  *) echo "fuzz: no source list for $1" >&2; return 1 ;;
  esac
}

echo "== fuzz: building seed writer"
# shellcheck disable=SC2086
clang $cflags tests/fuzz/seeds.c $base_src $(ls broker/proto/*.c) \
  broker/log/batch.c broker/log/compress.c $libs -o "$out/seeds"

status=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  corpus="$out/corpus/$name"
  artifacts="$out/artifacts/$name/"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz: building $name"
  # shellcheck disable=SC2086
  clang $cflags -fsanitize=fuzzer $san "$src" $(sources "$name") $libs \
    -o "$out/$name"
  "$out/seeds" "${name#fuzz_}" "$corpus"
  regress=$(ls -d tests/fuzz/regress/"$name"/* 2>/dev/null || true)
  if [ -n "$regress" ]; then
    echo "== fuzz: replaying $(echo "$regress" | wc -l) regression input(s) for $name"
    # shellcheck disable=SC2086
    if ! "$out/$name" $regress >"$out/$name.regress.log" 2>&1; then
      grep -E 'ERROR|runtime error|SUMMARY|Running' "$out/$name.regress.log" | head -20
      echo "$name: FAILED on a regression input"
      status=1
      continue
    fi
  fi
  echo "== fuzz: running $name for ${seconds}s"
  if "$out/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$corpus" >"$out/$name.log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
      "$out/$name.log" || true
    echo "$name: ok ($(ls "$corpus" | wc -l) corpus files)"
  else
    tail -40 "$out/$name.log"
    echo "$name: FAILED — reproducer(s): $(ls "$artifacts")"
    echo "replay: $out/$name $artifacts<file>"
    status=1
  fi
done
exit $status
