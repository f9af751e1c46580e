// Drives bench/spec_vs_llamacpp.sh: per prompt, duet bench --mode spec (its
// speculative tg beside the target alone, one run) and llamacpp/
// spec_bench.mjs (llama.cpp the same way, in its own process), then the
// medians over the prompts and the ratio of the two speed-ups.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [duet, llm, slm, n, reps, threads, dmax, backend] = process.argv.slice(2);
const prompts = [
	'It is a truth universally acknowledged, that a single man in possession of a good fortune',
	'Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition,',
	'The family of Dashwood had long been settled in Sussex.',
];

function run(cmd, args) {
	// llama.cpp logs to both streams: keep stdout only
	return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26,
		stdio: ['ignore', 'pipe', 'ignore'] });
}

function median(xs) {
	const s = xs.filter((x) => x !== null).sort((a, b) => a - b);
	if (!s.length)
		return null;
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const rows = [];
for (const prompt of prompts) {
	const d = JSON.parse(run(duet, ['bench', '-m', llm, '-md', slm, '--mode', 'spec',
		'--text', prompt, '-p', '0', '-n', n, '-r', reps, '-t', threads,
		'--backend', backend, '--json']));
	const out = run('node', ['spec_bench.mjs', llm, slm, prompt, n, reps, threads, dmax,
				 backend]);
	const l = JSON.parse(out.split('\n').find((s) => s.startsWith('>> ')).slice(3));
	rows.push({ prompt, duet: d, llama: l });
	const f = (x) => (x === null ? '   -  ' : x.toFixed(2).padStart(6));
	console.log(`duet spec ${d.tg_tps.toFixed(1).padStart(7)} t/s, alone ` +
		`${d.llm_alone_tg_tps.toFixed(1).padStart(7)}: x${f(d.speedup)} (accept ` +
		`${d.accept_rate.toFixed(2)}) | llama.cpp spec ` +
		`${l.spec_tg_tps === null ? '  not engaged' : l.spec_tg_tps.toFixed(1).padStart(7)}` +
		`, alone ${l.llm_alone_tg_tps.toFixed(1).padStart(7)}: x${f(l.speedup)}` +
		` | "${prompt.slice(0, 28)}..."`);
}
const duetSpeedup = median(rows.map((r) => r.duet.speedup));
const llamaSpeedup = median(rows.map((r) => r.llama.speedup));
const tried = rows[0].llama.attempts.map((a) =>
	`${a.type}: ${a.error ? 'error "' + a.error + '"' : a.engaged ? 'engaged' : 'no draft tokens'}`);
const summary = {
	backend, llm, slm, n_gen: +n, repetitions: +reps, threads: +threads, draft_max: +dmax,
	duet_speedup: duetSpeedup,
	duet_tg_tps: median(rows.map((r) => r.duet.tg_tps)),
	duet_llm_alone_tg_tps: median(rows.map((r) => r.duet.llm_alone_tg_tps)),
	llamacpp_speedup: llamaSpeedup,
	llamacpp_llm_alone_tg_tps: median(rows.map((r) => r.llama.llm_alone_tg_tps)),
	llamacpp_engaged: llamaSpeedup !== null,
	llamacpp_attempts: tried,
	speedup_ratio: llamaSpeedup === null ? null : duetSpeedup / llamaSpeedup,
	rows,
};
writeFileSync('spec_results.json', JSON.stringify(summary, null, 1));
console.log(`duet speed-up x${duetSpeedup.toFixed(2)} over its target alone; ` +
	(llamaSpeedup === null
		? `llama.cpp's speculative decoding did not engage through the binding (${tried.join('; ')}), so there is no llama.cpp speed-up to compare`
		: `llama.cpp x${llamaSpeedup.toFixed(2)}; ratio ${(duetSpeedup / llamaSpeedup).toFixed(2)}`));
console.log(`llama.cpp target alone ${summary.llamacpp_llm_alone_tg_tps.toFixed(1)} t/s, ` +
	`duet target alone ${summary.duet_llm_alone_tg_tps.toFixed(1)} t/s`);
console.log('JSON: ' + process.cwd() + '/spec_results.json');
