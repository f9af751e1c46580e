#!/bin/sh
# Builds duet and runs every test: the Criterion suites in a normal build
# and again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# GGUF fuzz target for DUET_FUZZ_SECONDS (default 60).
#
# Long runs for developers: DUET_FUZZ_SECONDS=3600 ./tools/test.sh
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
duet_need_packages $DUET_BUILD_PACKAGES $DUET_TEST_PACKAGES
jobs=$(duet_jobs)
fuzz_seconds=${DUET_FUZZ_SECONDS:-60}

step() { printf '\n== %s\n' "$*"; }

step "build (release, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
step "tests"
ctest --test-dir build --output-on-failure

step "build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=ON -DDUET_BUILD_TESTS=ON >/dev/null
cmake --build build-asan -j "$jobs"
step "tests under ASan + UBSan"
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure

step "fuzz the GGUF reader for $fuzz_seconds s (clang, libFuzzer, ASan + UBSan)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=ON \
	-DDUET_BUILD_FUZZERS=ON -DDUET_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_gguf duet
corpus=build-fuzz/corpus
findings=build-fuzz/findings
rm -rf "$corpus" "$findings"
mkdir -p "$corpus" "$findings"
# seeds: small valid models of both architectures and several types
build-fuzz/duet mkmodel --arch llama --dim 32 --layers 1 --heads 2 --ff 32 \
	--vocab 259 --type f32 -o "$corpus/llama-f32.gguf"
build-fuzz/duet mkmodel --arch qwen2 --dim 32 --layers 2 --heads 2 --kv-heads 1 \
	--ff 64 --vocab 260 --type q8_0 --tied -o "$corpus/qwen2-q8_0.gguf"
build-fuzz/duet mkmodel --arch llama --dim 256 --layers 1 --heads 2 --ff 256 \
	--vocab 259 --type q4_k_m -o "$corpus/llama-q4_k_m.gguf"
build-fuzz/tests/fuzz/fuzz_gguf -max_total_time="$fuzz_seconds" -timeout=20 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$findings/" "$corpus" 2>build-fuzz/fuzz.log || {
	tail -n 40 build-fuzz/fuzz.log
	echo "fuzzing found a problem; the input is in $findings/" >&2
	exit 1
}
grep -E "^(Done|stat::number_of_executed_units)" build-fuzz/fuzz.log || true

step "all tests passed"
