#!/bin/sh
# Installs everything jj needs on a fresh machine with Node and npm: Deno (pinned, from the npm package `deno`),
# the npm dependencies, and libpcap. With --test, also the real peers the tests talk to (tshark, tcpdump, nfdump,
# openssl, sshd, dig; python3-networkx for the connection group's differential test; zsh and fish, whose
# parsers check the shell completions; DuckDB from npm in tests/peers for the Parquet and CSV outputs).
# Node and npm are taken as given (as on this project's machines). Idempotent and quiet
# when everything is there; all messages go to stderr.
set -eu
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ ! -x node_modules/.bin/deno ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies and Deno (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

# The tests' independent readers from npm (DuckDB for the Parquet and CSV outputs), kept out of jj's own
# dependencies in tests/peers.
if [ "$want_test" = 1 ] && { [ ! -d tests/peers/node_modules/@duckdb/node-api ] ||
  [ tests/peers/package.json -nt tests/peers/node_modules/.package-lock.json ]; }; then
  echo "setup: installing the tests' npm peers (npm ci in tests/peers)" >&2
  npm ci --prefix tests/peers --no-audit --no-fund >&2
fi

missing=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! have_pkg libpcap0.8 && ! ldconfig -p 2>/dev/null | grep -q 'libpcap\.so'; then missing="libpcap0.8"; fi
if [ "$want_test" = 1 ]; then
  for p in tshark tcpdump nfdump openssl openssh-server openssh-client dnsutils python3-networkx zsh fish; do
    have_pkg "$p" || missing="$missing $p"
  done
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: apt-get install$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq $missing >&2
  else
    echo "setup: missing Debian packages:$missing (run as root to install them, or: sudo apt-get install -y$missing)" >&2
  fi
fi
