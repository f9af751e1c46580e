#!/bin/sh
# The arm64 build under qemu-user against the native build: the demo
# pair's greedy ids, a synthetic model's (mkmodel on arm64, run on both)
# and tokenization. One CPU thread: here (qemu 7.2, glibc 2.36) a second
# thread never starts (the process spins before its clone call), so the
# thread pool and the example app are not exercised under emulation.
# Criterion suites need binfmt_misc under qemu (their runner re-executes
# itself), so they are not run here either.
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
