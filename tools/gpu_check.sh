#!/bin/sh
# Runs duet's Vulkan test suites and benchmarks on a machine with a real GPU
# that has neither our build tools nor our test dependencies, from bundles
# made here by tools/gpu_bundle.sh (stripped binaries, their shared
# libraries, the Vulkan loader and validation layer as Debian packages,
# part of the oracle, llama.cpp from npm with a node binary).
#
#   tools/gpu_check.sh tests BUNDLE_DIR OUT_DIR   Vulkan suites + oracle part
#   tools/gpu_check.sh bench BUNDLE_DIR OUT_DIR   oracle part + benchmarks
#
# `tests` unpacks into /opt/duet and must run first on the machine; `bench`
# reuses that. Everything it prints goes to OUT_DIR too.
set -u
phase=$1 bundle=$(cd "$2" && pwd) out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
log=$out/$phase.log
exec >"$log" 2>&1
say() { echo "== $*"; }

vk_env() {
	export LD_LIBRARY_PATH=/opt/duet/lib:/opt/vk/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:/usr/local/nvidia/lib
	export VK_LAYER_PATH=/opt/vk/usr/share/vulkan/explicit_layer.d
	j=$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan /usr/lib -name 'nvidia_icd*.json' 2>/dev/null | head -n 1)
	if [ -z "$j" ]; then
		# no manifest: write one for the driver's library
		l=$(find /usr/local/nvidia /usr/lib /usr/lib64 -name 'libGLX_nvidia.so.0' 2>/dev/null | head -n 1)
		j=/tmp/nvidia_icd.json
		printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
			"${l:-libGLX_nvidia.so.0}" >$j
	fi
	echo "ICD manifest $j: $(cat "$j" | tr -d '\n' | head -c 300)"
	export VK_DRIVER_FILES=$j VK_ICD_FILENAMES=$j
	# the tests take the source tree from /work/main (compiled in)
	mkdir -p /work "$root/build/test-tmp" /tmp/duet-cache
	[ -e /work/main ] || ln -s "$root" /work/main
	mkdir -p /work/shared
	ln -sfn "$bundle/oracle" /work/shared/oracle
	export DUET_BIN=/opt/duet/bin/duet TMPDIR=$root/build/test-tmp
	export XDG_CACHE_HOME=/tmp/duet-cache
}

oracle() { # $1: folder holding models/expected.json and its models
	say "oracle (vulkan, both kernel families) on $(ls "$1/models" | tr '\n' ' ')"
	DUET_ORACLE_DIR=$1 DUET_VK_VALIDATION=1 timeout 300 \
		/opt/duet/bin/test_oracle --jobs 2 --filter 'gpu_oracle/*' --verbose=0
	echo "oracle rc=$?"
}

unpack() {
	mkdir -p /opt/duet /opt/vk
	# the NVIDIA driver's Vulkan ICD needs libglvnd (GLX dispatch) in /
	if [ -d "$root/.gl" ]; then
		for d in "$root"/.gl/*.deb; do dpkg -x "$d" /; done
		ldconfig
	fi
	tar -C /opt/duet -xJf "$bundle/bundle.tar.xz" || exit 1
	for d in "$bundle"/*.deb; do dpkg -x "$d" /opt/vk; done
}

case $phase in
tests)
	unpack
	vk_env
	say "machine"; nvidia-smi -L; uname -r; nproc
	ls /usr/local/nvidia /usr/local/nvidia/lib* 2>&1 | grep -i 'vulkan\|GLX\|^/' | head
	say "duet info"; VK_LOADER_DEBUG=error,warn /opt/duet/bin/duet info --json | tee "$out/info.json"
	export DUET_VK_VALIDATION=1
	for t in gpu austen kv weights cli collab; do
		( timeout 400 /opt/duet/bin/test_$t --jobs 3 >"/tmp/t_$t.log" 2>&1
		  echo "rc=$?" >>"/tmp/t_$t.log" ) &
	done
	oracle "$bundle/oracle" >/tmp/t_oracle.log 2>&1 &
	wait
	for t in gpu austen kv weights cli collab oracle; do
		say "suite $t"; cat "/tmp/t_$t.log"
	done
	say "summary"
	for t in gpu austen kv weights cli collab oracle; do
		printf '%-8s %s | validation errors: %s\n' "$t" \
			"$(grep -h 'Synthesis' "/tmp/t_$t.log" | tail -n 1)" \
			"$(grep -c 'Vulkan validation error' "/tmp/t_$t.log")"
	done
	;;
bench)
	[ -x /opt/duet/bin/duet ] || unpack
	vk_env
	mkdir -p /opt/lb
	tar -C /opt/lb -xJf "$bundle/llama.tar.xz" || exit 1
	if [ -d "$bundle/oracle" ]; then
		oracle "$bundle/oracle"
		say "speculative decoding equals the target alone (oracle q8_0, CPU + Vulkan)"
		DUET_VK_VALIDATION=1 /opt/duet/bin/test_cli --filter 'cli/speculative*' --verbose=0
	fi
	d=/opt/duet/bin/duet m=/tmp/models
	mkdir -p $m
	say "models (duet mkmodel, as bench/vs_llamacpp.sh makes them)"
	for t in f16 q8_0 q4_0; do
		$d mkmodel --arch llama --dim 512 --layers 6 --heads 8 --ff 1536 \
			--vocab 8192 --type $t --seed 1 -o $m/m25-$t.gguf >/dev/null &
		$d mkmodel --arch llama --dim 768 --layers 12 --heads 12 --ff 2048 \
			--vocab 32000 --type $t --seed 1 -o $m/m130-$t.gguf >/dev/null &
	done
	for t in f16 q4_0; do
		$d mkmodel --arch llama --dim 2048 --layers 22 --heads 32 --kv-heads 4 \
			--ff 5632 --vocab 32000 --type $t --seed 1 -o $m/m1100-$t.gguf \
			>/dev/null &
	done
	wait
	ls -la $m
	say "pipeline cache: first start (empty cache) then second"
	rm -rf /tmp/duet-cache/duet
	for i in 1 2; do
		$d bench -m $m/m130-q4_0.gguf -p 32 -n 8 -r 1 --json --backend vulkan |
			tee -a "$out/startup.jsonl"
	done
	say "duet vs llama.cpp vulkan (pp 512, tg 128, 3 reps)"
	cd /opt/lb || exit 1
	for f in ${BENCH_MODELS:-m25-f16 m25-q8_0 m25-q4_0 m130-f16 m130-q8_0 m130-q4_0 \
		 m1100-f16 m1100-q4_0}; do
		for k in ${BENCH_KERNELS:-gpu cpu}; do
			timeout 120 $d bench -m $m/$f.gguf -p 512 -n 128 -r 3 --json \
				--backend vulkan --kernels $k | tee -a "$out/duet.jsonl"
		done
		GGML_VK_VISIBLE_DEVICES=0 timeout 120 bin/node llama_bench.mjs \
			$m/$f.gguf vulkan 512 128 3 8 2>/dev/null | grep '^>>' |
			tee -a "$out/llama.jsonl"
	done
	say "speculative decoding on the demo pair"
	for k in ${BENCH_KERNELS:-gpu cpu}; do
		timeout 120 $d bench -m "$root/models/austen-llm-q8_0.gguf" \
			-md "$root/models/austen-slm-q8_0.gguf" --mode spec -n 128 -r 3 \
			--json --backend vulkan --kernels $k | tee -a "$out/spec.jsonl"
	done
	say "profile m1100-q4_0"
	timeout 120 $d bench -m $m/m1100-q4_0.gguf -p 512 -n 32 -r 1 --backend vulkan \
		--profile 2>&1 | head -n 60
	;;
*) echo "usage: $0 tests|bench BUNDLE_DIR OUT_DIR" >&2; exit 2 ;;
esac
