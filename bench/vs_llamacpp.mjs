// Drives bench/vs_llamacpp.sh: for each model, duet bench (Vulkan or CPU) beside
// llama.cpp's Vulkan and CPU builds on the same file and device, then a
// table with the ratios and the raw figures as JSON.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [duet, work, pp, tg, reps, threads, backend, ...models] = process.argv.slice(2);

function run(cmd, args, env) {
	// llama.cpp logs to stderr and stdout: keep stdout, drop stderr
	return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26,
		stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...env } });
}

function llama(model, variant) {
	const out = run('node', ['llama_bench.mjs', model, variant, pp, tg, reps,
				 threads], {});
	const line = out.split('\n').find((l) => l.startsWith('>> '));
	return JSON.parse(line.slice(3));
}

const rows = [];
for (const model of models) {
	const d = JSON.parse(run(duet, ['bench', '-m', model, '-p', pp, '-n', tg,
					'-r', reps, '-t', threads, '--json', '--backend', backend]));
	// duet's CPU executor is set beside llama.cpp's CPU build only
	const vk = backend === 'cpu' ? null : llama(model, 'vulkan');
	const cpu = llama(model, 'cpu');
	rows.push({ model, duet: d, llama_vulkan: vk, llama_cpu: cpu,
		    pp_ratio_vulkan: vk ? d.pp_tps / vk.pp_tps : null,
		    tg_ratio_vulkan: vk ? d.tg_tps / vk.tg_tps : null,
		    pp_ratio_cpu: d.pp_tps / cpu.pp_tps,
		    tg_ratio_cpu: d.tg_tps / cpu.tg_tps });
	const r = rows[rows.length - 1];
	const name = model.split('/').pop();
	console.log(`${name.padEnd(18)} duet ${backend} pp ${d.pp_tps.toFixed(1).padStart(7)} ` +
		`tg ${d.tg_tps.toFixed(1).padStart(6)}` +
		(vk ? ` | llama.cpp vulkan pp ` +
		      `${vk.pp_tps.toFixed(1).padStart(6)} tg ${vk.tg_tps.toFixed(1).padStart(5)} ` +
		      `(duet x${r.pp_ratio_vulkan.toFixed(1)} pp, x${r.tg_ratio_vulkan.toFixed(1)} tg)`
		    : '') +
		` | llama.cpp cpu pp ${cpu.pp_tps.toFixed(1).padStart(6)} tg ` +
		`${cpu.tg_tps.toFixed(1).padStart(6)} (duet x${r.pp_ratio_cpu.toFixed(2)} pp, ` +
		`x${r.tg_ratio_cpu.toFixed(2)} tg)`);
}
const device = rows.length ? rows[0].duet.device : '';
writeFileSync(`${work}/results.json`, JSON.stringify({ device, backend, pp, tg, reps,
	threads, rows }, null, 1) + '\n');
console.log(`device: ${device}; raw figures in ${work}/results.json`);
