#!/bin/sh
# Builds duet and runs the demo pair (models/, trained on Jane Austen by
# tools/train) on Vulkan: the device's GPU, or Mesa's lavapipe on the CPU
# where there is none. Each model continues the same prompt, sampled at
# temperature 0.7 with a fixed seed, then both score a held-out passage.
set -eu
cd "$(dirname "$0")/.."
. tools/deps.sh
duet_need_packages $DUET_BUILD_PACKAGES
# a build directory configured before (by tools/test.sh, say) keeps its
# options: switching its tests off would leave stale test binaries there
if [ -f build/CMakeCache.txt ]; then
	cmake -S . -B build >/dev/null
else
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_BUILD_TESTS=OFF >/dev/null
fi
cmake --build build -j "$(duet_jobs)" --target duet
duet=build/duet
prompt=${DUET_DEMO_PROMPT:-"It is a truth universally acknowledged, that"}
backend=vulkan
"$duet" info >/dev/null 2>&1 || backend=auto
for m in slm llm; do
	file=models/austen-$m-q8_0.gguf
	echo
	echo "== austen-$m ($file), $backend:"
	"$duet" run -m "$file" -p "$prompt" -n 60 --temp 0.7 --top-p 0.95 \
		--seed 42 --backend "$backend"
done
echo
echo "== held-out Austen (tests/golden/austen_heldout.txt), lower is better:"
for m in slm llm; do
	printf 'austen-%s: ' "$m"
	"$duet" score -m models/austen-$m-q8_0.gguf -f tests/golden/austen_heldout.txt \
		-c 256 --backend "$backend"
done
