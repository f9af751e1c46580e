#!/bin/sh
# The arm64 build under qemu-user: the CLI against the native build (the
# demo pair's greedy ids, a synthetic model's made by mkmodel on arm64,
# tokenization), then the module suites of tests/arm64/suites.sh, built
# against the bundled Criterion subset (tests/support/mini_criterion).
# The CLI checks keep one CPU thread; the suites use the thread pool.
#   tests/arm64/run.sh NATIVE_BUILD ARM64_BUILD
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
native=$1/duet arm=$2/duet
q="timeout 300 qemu-aarch64 -L /usr/aarch64-linux-gnu"
work=$(mktemp -d "${TMPDIR:-/tmp}/duet-arm64.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL (arm64): $*" >&2; exit 1; }
file "$arm" 2>/dev/null | grep -q aarch64 || $q "$arm" --version >/dev/null ||
	fail "$arm is not an arm64 binary that runs under qemu"
L=$src/models/austen-llm-q8_0.gguf S=$src/models/austen-slm-q8_0.gguf
for m in "$L" "$S"; do
	a=$($q "$arm" run -m "$m" -p "It is a truth" -n 32 --temp 0 --ids --ignore-eos \
		--backend cpu -t 1 2>/dev/null) || fail "run $m"
	b=$("$native" run -m "$m" -p "It is a truth" -n 32 --temp 0 --ids --ignore-eos \
		--backend cpu 2>/dev/null)
	[ "$a" = "$b" ] || fail "greedy ids of $(basename "$m") differ: $a / $b"
done
$q "$arm" mkmodel --arch qwen2 --dim 256 --layers 2 --heads 4 --kv-heads 2 --ff 512 \
	--vocab 300 --type q4_k_m --seed 5 -o "$work/m.gguf" >/dev/null || fail mkmodel
cmp -s "$work/m.gguf" /dev/null && fail "empty model"
a=$($q "$arm" run -m "$work/m.gguf" --tokens 1,2,3 -n 16 --temp 0 --ids --ignore-eos \
	--backend cpu -t 1 2>/dev/null) || fail "run synthetic"
b=$("$native" run -m "$work/m.gguf" --tokens 1,2,3 -n 16 --temp 0 --ids --ignore-eos \
	--backend cpu 2>/dev/null)
[ "$a" = "$b" ] || fail "synthetic model ids differ: $a / $b"
a=$($q "$arm" tokenize -m "$L" -p "Mr. Darcy's 2 horses, café" --ids 2>&1)
b=$("$native" tokenize -m "$L" -p "Mr. Darcy's 2 horses, café" --ids 2>&1)
[ "$a" = "$b" ] || fail "tokens differ: $a / $b"
echo "arm64 under qemu: the same tokens as the native build"
. "$src/tests/arm64/suites.sh"
for s in $DUET_ARM64_SUITES; do
	t=$2/tests/test_$s
	[ -x "$t" ] || fail "no $t (build it with -DDUET_BUILD_TESTS=ON -DDUET_MINI_CRITERION=ON)"
	out=$(cd "$work" && TMPDIR=$work timeout 900 qemu-aarch64 -L /usr/aarch64-linux-gnu "$t" 2>&1) || {
		printf '%s\n' "$out" | grep -v '^\[PASS\]' >&2
		fail "suite $s"
	}
	printf 'arm64 %s: %s\n' "$s" "$(printf '%s\n' "$out" | grep '^\[====\] Synthesis')"
done
