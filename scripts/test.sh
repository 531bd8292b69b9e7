#!/bin/sh
# The whole suite: set-up, then format, lint, type check and tests. The steps run the pinned Deno directly:
# inside `deno task`, `deno` would resolve to node_modules/.bin/deno, which Deno then mistakes for a script.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh --test
deno=node_modules/.bin/deno
"$deno" fmt --check
"$deno" lint
# Every module, with the examples of its JSDoc type-checked too (an example that no longer compiles fails here).
"$deno" check --doc mod.ts cli.ts lib extractors outputs ffi bench scripts
# The public surface: every export documented, with explicit types and no reference to an unexported type.
"$deno" doc --lint mod.ts
shared=${JJ_SHARED:-../shared}
if [ ! -d "$shared/corpus/captures" ]; then
  echo "test: the shared corpus is not at $shared (set JJ_SHARED): tests that compare with it are ignored" >&2
fi
exec "$deno" test -A --parallel tests/
