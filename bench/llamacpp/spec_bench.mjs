// llama.cpp's speculative decoding on a target/draft pair through
// @fugood/llama.node (prebuilt llama.cpp build 10257): greedy completions
// of PROMPT, N tokens, REPS times, by the target alone and then with each
// way the binding offers to attach a separate draft model. Prints one JSON
// line (prefixed '>> ') with tokens/s (llama.cpp's predicted_per_second:
// generation only), draft and accepted token counts, and whether drafting
// engaged at all (draft_tokens > 0).
//   node spec_bench.mjs LLM SLM PROMPT N REPS THREADS DRAFT_MAX cpu|vulkan
import { loadModel } from '@fugood/llama.node';

const [llm, slm, prompt, n, reps, threads, dmax, variant] = process.argv.slice(2);
const base = { model: llm, n_ctx: 1024, n_batch: 512, n_threads: +threads };
if (variant === 'vulkan') {
	process.env.GGML_VK_VISIBLE_DEVICES = '0'; // else it skips CPU-type devices
	Object.assign(base, { lib_variant: 'vulkan', n_gpu_layers: 99 });
} else {
	base.n_gpu_layers = 0;
}
const copts = { prompt, n_predict: +n, temperature: 0, top_k: 1, ignore_eos: true };

function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function measure(extra) {
	const ctx = await loadModel({ ...base, ...extra });
	try {
		const tps = [];
		let draft = 0, accepted = 0, text = '';
		for (let i = 0; i < +reps; i++) {
			const r = await ctx.completion({ ...copts, ...extra });
			tps.push(r.timings.predicted_per_second);
			draft += r.draft_tokens || 0;
			accepted += r.draft_tokens_accepted || 0;
			text = r.text;
		}
		return { tg_tps: median(tps), draft_tokens: draft, draft_tokens_accepted: accepted,
			 text };
	} finally {
		await ctx.release();
	}
}

const alone = await measure({});
const draft = { model: slm, n_max: +dmax, n_min: 0, p_min: 0, n_gpu_layers: base.n_gpu_layers };
const attempts = [];
// 'draft-simple' is llama.cpp's classic separate draft model; the binding's
// own types list only 'draft-mtp', whose draft may also be a separate file;
// the third form uses the binding's top-level model_draft/spec_* options
const forms = [
	['draft-simple', { speculative: { type: 'draft-simple', n_max: +dmax, n_min: 0, p_min: 0, draft } }],
	['draft-mtp', { speculative: { type: 'draft-mtp', n_max: +dmax, n_min: 0, p_min: 0, draft } }],
	['model_draft', { model_draft: slm, spec_type: 'draft-simple', spec_draft_n_max: +dmax,
			  spec_draft_n_min: 0, spec_draft_p_min: 0 }],
];
for (const [type, extra] of forms) {
	try {
		const r = await measure(extra);
		attempts.push({ type, tg_tps: r.tg_tps, draft_tokens: r.draft_tokens,
				draft_tokens_accepted: r.draft_tokens_accepted,
				engaged: r.draft_tokens > 0, same_text: r.text === alone.text });
	} catch (e) {
		attempts.push({ type, engaged: false, error: String(e.message || e) });
	}
}
const best = attempts.filter((a) => a.engaged).sort((a, b) => b.tg_tps - a.tg_tps)[0];
console.log('>> ' + JSON.stringify({
	variant, llm_alone_tg_tps: alone.tg_tps, spec_tg_tps: best ? best.tg_tps : null,
	speedup: best ? best.tg_tps / alone.tg_tps : null, attempts,
}));
