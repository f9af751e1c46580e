// Greedy continuations of the demo pair by llama.cpp (build 10257, through
// @fugood/llama.node, its CPU build) next to duet's: for every committed
// model in MODELS_DIR and every line of PROMPTS, 32 tokens at temperature
// 0 from each side; the texts must be equal. Prints one ">> " line per
// case and exits 1 on any difference.
//
//   node austen_greedy.mjs DUET MODELS_DIR PROMPTS [N]
import { loadModel } from '@fugood/llama.node'
import { execFileSync } from 'child_process'
import fs from 'fs'
import path from 'path'

const [duet, dir, promptsFile, nArg] = process.argv.slice(2)
const n = +(nArg || 32)
const prompts = fs.readFileSync(promptsFile, 'utf8').split('\n').filter((l) => l)
const models = fs.readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort()
let bad = 0
for (const file of models) {
  const model = path.join(dir, file)
  const ctx = await loadModel({ model, n_ctx: 512, n_gpu_layers: 0, n_threads: 2 })
  for (const prompt of prompts) {
    // greedy: the top token only, and every sampler that could reorder
    // the logits before it switched off
    const r = await ctx.completion({
      prompt, n_predict: n, temperature: 0, top_k: 1, top_p: 1, min_p: 0,
      penalty_repeat: 1, penalty_freq: 0, penalty_present: 0, penalty_last_n: 0,
      dry_multiplier: 0, xtc_probability: 0, mirostat: 0, typ_p: 1, seed: 1,
    })
    const ours = execFileSync(duet, ['run', '-m', model, '-p', prompt, '-n', String(n),
      '--temp', '0', '--backend', 'cpu', '--no-display-prompt'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n$/, '')
    const same = ours === r.text
    if (!same) bad++
    console.log('>> ' + (same ? 'same' : 'DIFFERENT') + ' ' + file + ' ' +
      JSON.stringify(prompt) + ': ' + JSON.stringify(r.text) +
      (same ? '' : ' (duet: ' + JSON.stringify(ours) + ')'))
  }
  await ctx.release()
}
console.log('>> ' + (bad ? bad + ' differences' : 'llama.cpp and duet agree on every case'))
process.exit(bad ? 1 : 0)
