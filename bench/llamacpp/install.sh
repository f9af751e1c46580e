#!/bin/sh
# Installs the llama.cpp baseline (@fugood/llama.node 1.7.15, prebuilt CPU
# and Vulkan builds, MIT) from npm into the scratch folder WORK with the
# bench's node scripts, once; later calls only refresh the scripts.
#   bench/llamacpp/install.sh WORK
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$1
command -v npm >/dev/null || { echo "needs node and npm (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here"/*.mjs "$here"/../*.mjs "$work/"
if [ ! -d "$work/node_modules/@fugood/node-llama-linux-x64-vulkan" ]; then
	echo "installing llama.cpp from npm into $work ..." >&2
	(cd "$work" && npm ci --omit=optional --no-audit --no-fund >npm.log 2>&1) ||
		{ tail -n 5 "$work/npm.log" >&2; exit 1; }
fi
