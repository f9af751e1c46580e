#!/bin/sh
# Builds duet and runs every test: the Criterion suites in a normal build
# and again under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz
# targets (GGUF reader, tokenizers) for DUET_FUZZ_SECONDS each (default 40),
# and a cross-check of the tokenizers and of the demo pair's greedy output
# against llama.cpp from npm.
#
# Long runs for developers:
#   DUET_FUZZ_SECONDS=3600 DUET_ORACLE_ALL=1 DUET_SOAK_SECONDS=600 ./tools/test.sh
# (an hour of fuzzing each; the oracle and the Austen goldens through the
# device's other kernel family in full; the soak, sessions opening and
# closing under a tight KV pool, bench/bench_soak.c), and
# build-asan/tests/fault_alloc LLM SLM 1 (every allocation failing in turn).
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
duet_need_packages $DUET_BUILD_PACKAGES $DUET_TEST_PACKAGES
jobs=$(duet_jobs)
fuzz_seconds=${DUET_FUZZ_SECONDS:-40}

step() { printf '\n== %s\n' "$*"; }

step "build (release, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
step "tests"
# two suites at a time: each compiles lavapipe pipelines on one core for a
# while, so the long ones (oracle, gpu, austen) overlap (cold caches on
# the 2-core machine: 506 s one at a time, 429 s two at a time)
ctest --test-dir build --output-on-failure -j "$jobs"

step "arm64 Linux: cross build (gcc-aarch64-linux-gnu), the CLI and the suites under qemu-user"
if duet_want_packages $DUET_ARM64_PACKAGES; then
	# the suites against the bundled Criterion subset: libcriterion-dev
	# for arm64 does not install beside the amd64 one
	cmake -S . -B build-arm64 --toolchain cmake/aarch64-linux-gnu.cmake \
		-DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_MINI_CRITERION=ON >/dev/null
	. tests/arm64/suites.sh
	cmake --build build-arm64 -j "$jobs" --target duet duet-example-sessions \
		$(for s in $DUET_ARM64_SUITES; do printf 'test_%s ' "$s"; done)
	sh tests/arm64/run.sh "$PWD/build" "$PWD/build-arm64"
fi

step "Android: NDK build (arm64-v8a, android-28) when an NDK is present"
ndk=${ANDROID_NDK_HOME:-${ANDROID_NDK:-}}
if [ -n "$ndk" ] && [ -f "$ndk/build/cmake/android.toolchain.cmake" ]; then
	cmake -S . -B build-android -DCMAKE_BUILD_TYPE=Release \
		--toolchain "$ndk/build/cmake/android.toolchain.cmake" \
		-DANDROID_ABI=arm64-v8a -DANDROID_PLATFORM=android-28 \
		-DDUET_BUILD_TESTS=OFF >/dev/null
	cmake --build build-android -j "$jobs"
else
	echo "skipped: no Android NDK (set ANDROID_NDK_HOME to build for arm64-v8a; docs/android.md)"
fi

step "build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=ON -DDUET_BUILD_TESTS=ON >/dev/null
cmake --build build-asan -j "$jobs"
# the suites that only drive the CLI over whole models (oracle, austen) ran
# above; under the sanitizers the module suites and the GPU suite run
step "tests under ASan + UBSan (-O1)"
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j "$jobs" -E '^(oracle|austen)$'


step "the KV arbiter's, the batcher's and the thread pool's threads under ThreadSanitizer"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_TSAN=ON \
	-DDUET_BUILD_TESTS=ON >/dev/null
cmake --build build-tsan -j "$jobs" --target kv_stress batch_stress pool_stress
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/tests/kv_stress
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/tests/batch_stress
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/tests/pool_stress

step "fuzz the GGUF reader for $fuzz_seconds s (clang, libFuzzer, ASan + UBSan)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=ON \
	-DDUET_BUILD_FUZZERS=ON -DDUET_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_gguf fuzz_tokenize duet
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
fuzz() { # name corpus-dir [libFuzzer options]: fail with the finding on a crash
	name=$1 dir=$2
	shift 2
	build-fuzz/tests/fuzz/$name -max_total_time="$fuzz_seconds" -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 "$@" \
		-artifact_prefix="$findings/" "$dir" 2>"build-fuzz/$name.log" || {
		tail -n 40 "build-fuzz/$name.log"
		echo "$name found a problem; the input is in $findings/" >&2
		exit 1
	}
	printf '%s: ' "$name"
	grep -E "^Done" "build-fuzz/$name.log" || true
}
fuzz fuzz_gguf "$corpus"
step "fuzz the tokenizers for $fuzz_seconds s (invalid UTF-8 and all)"
tcorpus=build-fuzz/corpus-tokenize
rm -rf "$tcorpus" && mkdir -p "$tcorpus"
printf 'AHello world, it'"'"'s 2024!' >"$tcorpus/en"
printf '\213def f(x):\n\treturn [x, 1.5]\n' >"$tcorpus/code"
printf '\003\346\227\245\346\234\254 \360\237\230\200 <|im_start|>\r\n' >"$tcorpus/mixed"
printf '\201\377\300\257 \355\240\200 \342' >"$tcorpus/invalid"
fuzz fuzz_tokenize "$tcorpus" -max_len=65536

step "cross-check tokenizers and the demo pair against llama.cpp (npm @fugood/llama.node 1.7.15)"
rc=0
tests/llamacpp/run.sh "$PWD/build" "${DUET_ORACLE_DIR:-$(cd .. && pwd)/shared/oracle}" || rc=$?
if [ "$rc" -eq 77 ]; then
	echo "(the cross-check needs the npm registry; every other test ran)"
elif [ "$rc" -ne 0 ]; then
	exit 1
fi

if [ -n "${DUET_SOAK_SECONDS:-}" ]; then
	step "soak for $DUET_SOAK_SECONDS s: sessions opening and closing under a tight KV pool"
	build/duet-bench-soak -m models/austen-llm-q8_0.gguf -md models/austen-slm-q8_0.gguf \
		--seconds "$DUET_SOAK_SECONDS" | tee build/soak.json
fi

step "all tests passed"
