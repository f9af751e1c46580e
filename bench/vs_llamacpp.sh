#!/bin/sh
# duet's Vulkan backend against llama.cpp on the same GGUF files and the
# same device: llama.cpp's Vulkan build (the backend we replace) and its
# CPU build (2 threads: the bar we are really chasing). llama.cpp comes
# prebuilt from npm (@fugood/llama.node 1.7.15, MIT) into a scratch folder;
# the models are made with `duet mkmodel` (fixed seeds):
#   m25-T   ~29M params: dim 512, 6 layers, 8 heads, ffn 1536, vocab 8192
#   m130-T ~134M params: dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000
# for T in f16, q8_0, q4_0.
#
#   bench/vs_llamacpp.sh [BUILD_DIR] [-p N] [-n N] [-r N] [-t THREADS]
#                        [--sizes 25,130] [--types f16,q8_0,q4_0]
#                        [--duet-backend vulkan|cpu]
# --duet-backend cpu measures duet's CPU executor instead (THREADS threads)
# beside llama.cpp's CPU build only.
# Prints one line per model and writes BUILD_DIR/bench-llamacpp/results.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)/build
case ${1:-} in -*|'') ;; *) build=$(cd "$1" && pwd); shift ;; esac
pp=128 tg=32 reps=3 threads=2 sizes=25,130 types=f16,q8_0,q4_0 backend=vulkan
while [ $# -gt 0 ]; do
	case $1 in
	-p) pp=$2; shift 2 ;;
	-n) tg=$2; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	-t) threads=$2; shift 2 ;;
	--sizes) sizes=$2; shift 2 ;;
	--types) types=$2; shift 2 ;;
	--duet-backend) backend=$2; shift 2 ;;
	*) echo "usage: $0 [BUILD_DIR] [-p N] [-n N] [-r N] [-t N] [--sizes 25,130] [--types f16,q8_0,q4_0] [--duet-backend vulkan|cpu]" >&2; exit 2 ;;
	esac
done
duet=$build/duet
[ -x "$duet" ] || { echo "no $duet: build first (cmake --build build)" >&2; exit 1; }
work=$build/bench-llamacpp
"$here/llamacpp/install.sh" "$work"
mkdir -p "$work/models"
models=
for size in $(echo "$sizes" | tr , ' '); do
	case $size in
	25) shape="--dim 512 --layers 6 --heads 8 --ff 1536 --vocab 8192" ;;
	130) shape="--dim 768 --layers 12 --heads 12 --ff 2048 --vocab 32000" ;;
	*) echo "unknown size $size (25 or 130)" >&2; exit 2 ;;
	esac
	for t in $(echo "$types" | tr , ' '); do
		m=$work/models/m$size-$t.gguf
		[ -f "$m" ] || "$duet" mkmodel --arch llama $shape --type "$t" \
			--seed 1 --name "m$size-$t" -o "$m" >/dev/null
		models="$models $m"
	done
done
cd "$work"
# shellcheck disable=SC2086
exec node vs_llamacpp.mjs "$duet" "$work" "$pp" "$tg" "$reps" "$threads" "$backend" $models
