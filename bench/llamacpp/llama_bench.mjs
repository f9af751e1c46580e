// One llama.cpp measurement through @fugood/llama.node (prebuilt llama.cpp
// build 10257): load MODEL on the CPU or Vulkan build and print one JSON
// line with prompt-processing and generation tokens/s (llama.cpp's own
// bench: pp tokens in one batch, tg tokens one at a time, averaged over
// the repetitions).
//   node llama_bench.mjs MODEL cpu|vulkan PP TG REPS THREADS
import { loadModel } from '@fugood/llama.node';

const [model, variant, pp, tg, reps, threads] = process.argv.slice(2);
const opts = { model, n_ctx: 1024, n_batch: 512, n_threads: +threads || 2 };
if (variant === 'vulkan') {
	// its Vulkan backend skips CPU-type devices unless told otherwise
	process.env.GGML_VK_VISIBLE_DEVICES = '0';
	opts.lib_variant = 'vulkan';
	opts.n_gpu_layers = 99;
} else {
	opts.n_gpu_layers = 0;
}
const t0 = Date.now();
const ctx = await loadModel(opts);
const loadMs = Date.now() - t0;
const r = await ctx.bench(+pp, +tg, 1, +reps);
await ctx.release();
console.log('>> ' + JSON.stringify({
	variant, model, load_ms: loadMs, pp_tps: r.speedPp, tg_tps: r.speedTg,
	n_gpu_layers: r.nGpuLayers, threads: r.nThreads,
}));
