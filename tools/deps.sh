# Sourced by tools/demo.sh and tools/test.sh: make sure Debian packages are
# installed. As root, missing ones are installed with apt-get; otherwise the
# exact apt-get line is printed and the script stops with status 1.
#
#   . tools/deps.sh
#   duet_need_packages cmake gcc ...

# Sets $missing to the packages of "$@" that are not installed.
duet_missing_packages() {
	missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
}

# Installs $missing with apt-get (as root); status 1 when that failed.
duet_install_missing() {
	echo "duet: installing:$missing" >&2
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing >/dev/null && return 0
	echo "duet: apt-get install failed" >&2
	return 1
}

duet_need_packages() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "duet: not a Debian system; make sure these are installed: $*" >&2
		return 0
	fi
	duet_missing_packages "$@"
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		duet_install_missing || exit 1
	else
		echo "duet: missing packages; install them with:" >&2
		echo "  sudo apt-get install -y$missing" >&2
		exit 1
	fi
}

# What building libduet and the duet CLI needs: a C toolchain, the Vulkan
# headers (the loader itself is opened at run time), the GLSL compiler and
# SPIR-V tools the kernels are built with, and Mesa's Vulkan drivers, whose
# lavapipe runs every kernel on the CPU where there is no GPU.
DUET_BUILD_PACKAGES="cmake make gcc libc6-dev pkg-config libvulkan-dev glslc liburing-dev \
spirv-tools mesa-vulkan-drivers"
# What the test run adds: Criterion; clang with its sanitizer and libFuzzer
# runtimes for the fuzz targets; the Unicode Character Database the
# tokenizer tables are generated from; the Vulkan validation layer;
# Node.js and npm to fetch llama.cpp's
# prebuilt Node binding as a test oracle (never used by the library). A
# node/npm already on the PATH (e.g. NodeSource's, which bundles npm and
# conflicts with Debian's npm package) is used as it is.
# The Khronos validation layer checks every Vulkan call the tests make.
DUET_TEST_PACKAGES="libcriterion-dev clang libclang-rt-14-dev unicode-data \
vulkan-validationlayers"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	DUET_TEST_PACKAGES="$DUET_TEST_PACKAGES nodejs npm"
fi

# Like duet_need_packages, for optional steps: as root, installs what is
# missing; otherwise prints the apt-get line and returns 1 (the caller
# skips the step) instead of stopping.
duet_want_packages() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		return 1
	fi
	duet_missing_packages "$@"
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		duet_install_missing
		return
	fi
	echo "duet: skipped; to run it: sudo apt-get install -y$missing" >&2
	return 1
}

# The arm64 Linux cross build and its emulated run.
DUET_ARM64_PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"

# Parallel build jobs: the CPU count.
duet_jobs() {
	getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2
}
