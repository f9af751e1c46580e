#!/bin/sh
# Speculative decoding, duet against llama.cpp, on one target/draft pair
# and the same prompts and device: for each prompt, duet's greedy
# speculative tokens/s beside its target alone (duet bench --mode spec,
# one run), and llama.cpp's (prebuilt from npm: @fugood/llama.node 1.7.15,
# installed into a scratch folder) the same way; then both speed-ups and
# their ratio. Where llama.cpp's drafting does not engage, it says so and
# why, and prints no llama.cpp speed-up.
#
#   bench/spec_vs_llamacpp.sh [BUILD_DIR] [-m LLM] [-md SLM] [-n N] [-r N]
#                             [-t THREADS] [--draft-max K] [--backend cpu|vulkan]
# Defaults: the demo pair (models/), -n 64, -r 3, 2 threads, K 4, cpu.
# Writes BUILD_DIR/bench-llamacpp/spec_results.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)/build
case ${1:-} in -*|'') ;; *) build=$(cd "$1" && pwd); shift ;; esac
llm=$here/../models/austen-llm-q8_0.gguf slm=$here/../models/austen-slm-q8_0.gguf
n=64 reps=3 threads=2 dmax=4 backend=cpu
usage() {
	echo "usage: $0 [BUILD_DIR] [-m LLM] [-md SLM] [-n N] [-r N] [-t N] [--draft-max K] [--backend cpu|vulkan]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	-m) llm=$2 ;;
	-md) slm=$2 ;;
	-n) n=$2 ;;
	-r) reps=$2 ;;
	-t) threads=$2 ;;
	--draft-max) dmax=$2 ;;
	--backend) backend=$2 ;;
	*) usage ;;
	esac
	shift 2
done
case $backend in cpu|vulkan) ;; *) usage ;; esac
for f in "$llm" "$slm"; do
	[ -f "$f" ] || { echo "no model file $f" >&2; exit 1; }
done
llm=$(cd "$(dirname "$llm")" && pwd)/$(basename "$llm")
slm=$(cd "$(dirname "$slm")" && pwd)/$(basename "$slm")
duet=$build/duet
[ -x "$duet" ] || { echo "no $duet: build first (cmake --build build)" >&2; exit 1; }
work=$build/bench-llamacpp
"$here/llamacpp/install.sh" "$work"
cd "$work"
exec node spec_vs_llamacpp.mjs "$duet" "$llm" "$slm" "$n" "$reps" "$threads" "$dmax" "$backend"
