// Cross-check of duet's tokenizers against llama.cpp (build 10257, through
// @fugood/llama.node): every vocabulary in ORACLE_DIR/tokenizer, a set of
// hand-picked hard texts (code, emoji ZWJ sequences, CJK, RTL scripts,
// combining marks, digit and whitespace runs, CR/LF mixes) and seeded random
// texts drawn from many Unicode blocks. Exits 1 on any difference.
//
//   node check_tokenize.mjs TOKENIZE_BATCH ORACLE_DIR
import { loadModel } from '@fugood/llama.node'
import { execFileSync } from 'child_process'
import fs from 'fs'
import path from 'path'

const [batch, oracle] = process.argv.slice(2)

const hard = [
  'def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n',
  'int main(void) {\n\tprintf("%d\\n", 42);\n\treturn 0;\n}',
  '{"key": [1, 2.5, -3e10], "nested": {"a": null}}',
  '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466} \u{1F3F3}\uFE0F\u200D\u{1F308} \u{1F44D}\u{1F3FD} \u{1F9D1}\u{1F3FF}\u200D\u{1F4BB}',
  '中文测试：你好，世界！日本語のテキスト、カタカナ。한국어 텍스트입니다.',
  'مرحبا بالعالم، هذا اختبار. שלום עולם! עברית',
  'e\u0301 n\u0303 a\u0308\u0304 नमस्ते दुनिया ภาษาไทย',
  '1234567890123 3.14159 1,000,000 0x1F 007 ٣٤٥ ४५६ 99999999999999999999',
  '   a    b\t\tc  \t  d     ', '  leading', 'trailing   ', ' ', '  ', '\t', '\n',
  'a\r\nb\rc\n\nd\r\n\r\n e \n\r', '\n\n\n', '\r\r', ' \n \n ',
  "I'M YOU'LL they'Re WE'VE it's don't DON'T 'S ' s",
  'ﬁ ligature Ⅻ ½ ① 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ™ © ®',
  'nbsp\u00a0here ideo\u3000space zw\u200bsp line\u2028sep nel\u0085x',
  "Hello, world! How's it going? ... !!! ??? #tag @user C++ <vector> x=y*2+3;",
  'Здравствуй, мир! Ελληνικά κείμενα. Ünïcödé İstanbul ı ß',
  '$100 €50 £30 ¥1000 ₹500 5% 3+4=7 a<b>c ^_^ ~tilde `code` |pipe|',
  'https://example.com/path?q=1&r=two#frag user@mail.org',
  '<|im_start|>user\nhi<|im_end|> <s> </s> [INST] <<SYS>>',
  'The quick brown fox jumps over the lazy dog. '.repeat(4),
]

// mulberry32: a small seeded generator, so the random texts never change
let seed = 1234
const rand = () => {
  seed |= 0; seed = seed + 0x6D2B79F5 | 0
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
  return ((t ^ t >>> 14) >>> 0) / 4294967296
}
const blocks = [[0x20, 0x7f], [0x80, 0x250], [0x370, 0x530], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f],
  [0x2100, 0x2bff], [0x3000, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00],
  [0xfb00, 0xfdff], [0xfe00, 0xff9f], [0x1f300, 0x1f6ff], [0x1d400, 0x1d7ff],
  [0x20000, 0x20100]]
const spaces = [0x20, 0x20, 0x20, 0x0a, 0x0d, 0x09, 0x27, 0x85, 0xa0, 0x3000, 0x200d]
const random = []
for (let k = 0; k < 150; k++) {
  let s = ''
  const n = 1 + Math.floor(rand() * 30)
  for (let i = 0; i < n; i++) {
    let cp
    if (rand() < 0.2) cp = spaces[Math.floor(rand() * spaces.length)]
    else {
      const [a, b] = blocks[Math.floor(rand() * blocks.length)]
      cp = a + Math.floor(rand() * (b - a))
    }
    s += String.fromCodePoint(cp)
  }
  random.push(s)
}
const texts = hard.concat(random)

const dir = path.join(oracle, 'tokenizer')
let bad = 0, total = 0
for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.gguf')).sort()) {
  const model = path.join(dir, f)
  const ctx = await loadModel({ model, vocab_only: true, n_ctx: 64 })
  const ref = []
  for (const t of texts) ref.push(Array.from((await ctx.tokenize(t)).tokens))
  await ctx.release()
  const got = JSON.parse(execFileSync(batch, [model], { input: JSON.stringify(texts), maxBuffer: 1 << 26 }))
  let nb = 0
  texts.forEach((t, i) => {
    total++
    if (JSON.stringify(ref[i]) !== JSON.stringify(got[i])) {
      nb++
      if (nb <= 3) console.log(`>> ${f}: ${JSON.stringify(t)}\n>>   llama.cpp ${JSON.stringify(ref[i])}\n>>   duet      ${JSON.stringify(got[i])}`)
    }
  })
  bad += nb
  console.log(`>> ${f}: ${texts.length - nb}/${texts.length} texts give llama.cpp's ids`)
}
console.log(`>> tokenizer cross-check: ${total - bad}/${total} texts match llama.cpp`)
process.exit(bad ? 1 : 0)
