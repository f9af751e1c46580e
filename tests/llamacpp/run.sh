#!/bin/sh
# Cross-checks duet against llama.cpp, taken prebuilt from npm
# (@fugood/llama.node 1.7.15, its CPU build) as a test oracle only: the
# tokenizers (check_tokenize.mjs) and the demo pair's greedy continuations
# (austen_greedy.mjs).
#   tests/llamacpp/run.sh BUILD_DIR ORACLE_DIR
# Exit 0: all equal; 1: a difference; 77: the oracle could not be installed
# (no node/npm or no registry), reported, not counted as a pass.
set -u
build=$1
oracle=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$build/llamacpp
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "llama.cpp cross-check NOT RUN: node/npm are not installed"
	exit 77
fi
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here"/*.mjs "$work/"
if ! (cd "$work" && npm ci --omit=optional --no-audit --no-fund >npm.log 2>&1); then
	echo "llama.cpp cross-check NOT RUN: npm could not install the oracle:"
	tail -n 3 "$work/npm.log"
	exit 77
fi
# llama.cpp logs to stdout too: keep only the checks' own lines (">> ").
rc=0
(cd "$work" && node check_tokenize.mjs "$build/tests/tokenize_batch" "$oracle") \
	>"$work/check.log" 2>&1 || rc=1
# the demo pair: llama.cpp's greedy continuations equal ours
src=$(cd "$here/../.." && pwd)
(cd "$work" && node austen_greedy.mjs "$build/duet" "$src/models" \
	"$src/tests/golden/austen_prompts.txt") >>"$work/check.log" 2>&1 || rc=1
grep "^>> " "$work/check.log" | cut -c4-
[ $rc -eq 0 ] || tail -n 5 "$work/check.log"
exit $rc
