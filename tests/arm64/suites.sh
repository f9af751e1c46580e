# The Criterion suites tests/arm64/run.sh runs under qemu-user (module
# suites on the CPU: no Vulkan loader for arm64 there, so GPU cases skip
# visibly; cli, oracle and austen exec the duet binary, which qemu-user
# cannot follow without binfmt_misc). Default: the quick ones (~40 s on 2
# cores); DUET_ARM64_ALL=1 adds kv, collab and weights (~5 minutes).
DUET_ARM64_SUITES="quant gguf model sampler tokenizer io cpu"
if [ "${DUET_ARM64_ALL:-0}" = 1 ]; then
	DUET_ARM64_SUITES="$DUET_ARM64_SUITES kv collab weights"
fi
