#!/bin/sh
# Builds duet and runs the demo: a model is generated (random weights, so
# the text is nonsense words) and duet generates text from it on the CPU
# reference executor. The trained SLM+LLM pair replaces it once it lands.
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
duet_need_packages $DUET_BUILD_PACKAGES
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(duet_jobs)" --target duet
model=build/demo/synthetic-llama.gguf
mkdir -p build/demo
if [ ! -f "$model" ]; then
	echo "== writing a synthetic model: $model"
	build/duet mkmodel --arch llama --dim 256 --layers 4 --heads 8 --kv-heads 4 \
		--ff 768 --vocab 2048 --type q8_0 --seed 1 -o "$model"
fi
echo "== generating 48 tokens"
build/duet run -m "$model" --tokens 1,300,301,302 -n 48 --seed 7 --temp 0.9
