#!/bin/sh
# Packs what tools/gpu_check.sh needs on a GPU machine that has no build
# tools and no network (the device machines lent to some sessions): run
# here after `cmake --build build`, from the repository root.
#
#   tools/gpu_bundle.sh [BUILD_DIR]
#
# Writes (all ignored by git; each call of the device tool carries 64 MiB at
# most, tracked files included, so the oracle is split in two):
#   .devA/  bundle.tar.xz (stripped duet + Vulkan test suites, their shared
#           libraries), the Vulkan loader and validation layer (.deb), and
#           the oracle's larger models with their part of expected.json
#   .devB/  the oracle's smaller models, and llama.cpp's Vulkan build from
#           npm with a node binary (llama.tar.xz), for the bench phase
#   .gl/    libglvnd packages the NVIDIA driver's Vulkan ICD needs
# Then: the device tool runs `sh tools/gpu_check.sh tests .devA $OUT`
# carrying .devA and .gl, and `sh tools/gpu_check.sh bench .devB $OUT`
# carrying .devB and .gl (on the same warm machine, or add bundle.tar.xz
# and the .debs to .devB).
set -eu
build=${1:-build}
oracle=${DUET_ORACLE_DIR:-../shared/oracle}
for f in .devA .devB .gl; do
	grep -qx "/$f/" .git/info/exclude 2>/dev/null || echo "/$f/" >>.git/info/exclude
done
rm -rf .devA .devB .gl
mkdir -p .devA .devB .gl
t=$(mktemp -d)
mkdir -p "$t/bin" "$t/lib"
for f in duet tests/test_gpu tests/test_austen tests/test_kv tests/test_weights \
	 tests/test_cli tests/test_collab tests/test_oracle; do
	strip -o "$t/bin/$(basename $f)" "$build/$f"
done
# shared libraries the binaries need beyond glibc (criterion and its own)
ldd "$build/tests/test_gpu" /usr/lib/x86_64-linux-gnu/libgomp.so.1 |
	awk '/=>/ { print $3 }' | sort -u |
	grep -v 'libc\.so\|libm\.so\|libpthread\|libdl\|ld-linux\|libresolv' |
	while read -r l; do cp -L "$l" "$t/lib/"; done
cp -L /usr/lib/x86_64-linux-gnu/libgomp.so.1 "$t/lib/"
tar -C "$t" -cf - bin lib | xz -T0 -6 >.devA/bundle.tar.xz
(cd .devA && apt-get download libvulkan1 vulkan-validationlayers)
(cd .gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 \
	libglx0 libgles2)
python3 - "$oracle" <<'EOF'
import json, shutil, sys, os
src = sys.argv[1] + '/models'
e = json.load(open(src + '/expected.json'))
models = sorted({c['model'] for c in e['cases']},
                key=lambda m: -os.path.getsize(src + '/' + m))
parts = {'.devA': models[:3], '.devB': models[3:]}
for d, ms in parts.items():
    os.makedirs(d + '/oracle/models', exist_ok=True)
    part = dict(e, cases=[c for c in e['cases'] if c['model'] in ms])
    json.dump(part, open(d + '/oracle/models/expected.json', 'w'))
    for m in ms:
        shutil.copy(src + '/' + m, d + '/oracle/models/' + m)
EOF
lb=$build/bench-llamacpp/node_modules/@fugood
if [ -d "$lb/node-llama-linux-x64-vulkan" ]; then
	mkdir -p "$t/lb/bin" "$t/lb/node_modules/@fugood/llama.node" \
		 "$t/lb/node_modules/@fugood/node-llama-linux-x64-vulkan"
	cp -r "$lb/llama.node/lib" "$lb/llama.node/package.json" \
		"$t/lb/node_modules/@fugood/llama.node/"
	cp "$lb"/node-llama-linux-x64-vulkan/* \
		"$t/lb/node_modules/@fugood/node-llama-linux-x64-vulkan/"
	cp bench/llamacpp/llama_bench.mjs "$t/lb/"
	cp "$(command -v node)" "$t/lb/bin/"
	tar -C "$t/lb" -cf - . | xz -T0 -6 >.devB/llama.tar.xz
else
	echo "no llama.cpp from npm in $build/bench-llamacpp: run bench/vs_llamacpp.sh once" >&2
fi
rm -rf "$t"
du -sh .devA .devB .gl
