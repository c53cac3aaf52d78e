#!/bin/sh
# deps.sh — checks the Debian packages Sluice builds and tests with and
# installs the missing ones (apt-get as root), or prints the command to run.
# Each line: a check (pkg:NAME for pkg-config, cmd:NAME for a program,
# file:PATH for a file) and the Debian package that provides it.
# Then installs the npm packages the conformance tests use (KafkaJS, pinned
# by tests/conformance/kafkajs/package-lock.json) into build/npm with
# `npm ci`, unless that exact lock file is installed there already.
set -eu

checks='
pkg:glib-2.0 libglib2.0-dev
pkg:libuv libuv1-dev
pkg:libcgraph libgraphviz-dev
pkg:libgvc libgraphviz-dev
pkg:cunit libcunit1-dev
pkg:zlib zlib1g-dev
pkg:liblz4 liblz4-dev
pkg:libzstd libzstd-dev
pkg:snappy libsnappy-dev
cmd:pkg-config pkg-config
cmd:gcc gcc
cmd:make make
cmd:dot graphviz
cmd:lcov lcov
cmd:genhtml lcov
cmd:kcat kcat
pkg:rdkafka librdkafka-dev
file:/usr/lib/python3/dist-packages/kafka/__init__.py python3-kafka
cmd:clang clang
cmd:redis-server redis-server
cmd:node nodejs
cmd:npm npm
'

npm_dir=build/npm
npm_lock=tests/conformance/kafkajs/package-lock.json
npm_deps() {
  if [ -f "$npm_dir/node_modules/kafkajs/package.json" ] &&
    cmp -s "$npm_lock" "$npm_dir/package-lock.json"; then
    return 0
  fi
  mkdir -p "$npm_dir"
  cp tests/conformance/kafkajs/package.json "$npm_lock" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error) || {
    echo "deps: npm ci in $npm_dir failed (is the npm registry reachable?)"
    exit 1
  }
  echo "deps: installed KafkaJS into $npm_dir"
}

missing=""
have() {
  case "$1" in
    pkg:*) command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "${1#pkg:}" ;;
    cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 ;;
    file:*) [ -e "${1#file:}" ] ;;
  esac
}

echo "$checks" | while read -r check pkg; do
  [ -n "$check" ] || continue
  have "$check" || echo "$pkg"
done | sort -u > "${TMPDIR:-/tmp}/sluice-deps.$$"
missing=$(tr '\n' ' ' < "${TMPDIR:-/tmp}/sluice-deps.$$")
rm -f "${TMPDIR:-/tmp}/sluice-deps.$$"

if [ -z "$(echo "$missing" | tr -d ' ')" ]; then
  echo "deps: all present"
  npm_deps
  exit 0
fi

echo "deps: missing packages: $missing"
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
  echo "deps: installed $missing"
  npm_deps
else
  echo "deps: run this as root, then retry:"
  echo "  sudo apt-get update && sudo apt-get install -y $missing"
  exit 1
fi
