#!/bin/sh
# The whole suite: set-up, then format, lint, type check and tests (deno task test).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh --test
exec node_modules/.bin/deno task test
