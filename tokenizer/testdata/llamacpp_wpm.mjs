// llamacpp_wpm.mjs: WordPiece ids from llama.cpp v0.5.0 (node-llama-cpp
// 3.22.1, vocab-only, add_special=false, parse_special=false) for the four
// wpm-*.gguf vocabularies written by ./wpmvocab (the BertNormalizer's
// lowercase / strip_accents settings), over hand-picked texts and 300 random
// ones (seeded) built from cased, accented and decomposed pieces.
// Usage (from tokenizer/testdata): NLC_DIR=~/nlc node llamacpp_wpm.mjs llamacpp_wpm.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [outFile] = process.argv.slice(2);
let seed = 18;
const rand = () => {
  seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = a => a[Math.floor(rand() * a.length)];
const pieces = ["Hello", "hello", "HELLO", "Café", "cafe\u0301", "CAFÉ", "naïve", "nai\u0308ve", "Naïve", "résumé",
  "Straße", "STRASSE", "Σοφία", "ΣΟΦΙΑ", "İstanbul", "ǅ", "Å", "A\u030a", "Ω", "ω", "头痛", "!", ",", ".", "?", "'",
  " ", "  ", "\t", "\n", "\u3000", "x", "Y", "é", "É", "\u0301", "ﬁ", "Ｈｅｌｌｏ", "😀", "\u00ad"];
const texts = ["", "Hello", "hello HELLO Hello", "Café café CAFÉ", "cafe\u0301", "naïve Naïve nai\u0308ve",
  "Straße", "Σοφία ΣΟΦΙΑ", "İı", "ǅǆ", "Å A\u030a å", "\u0301\u0301", "Hello, World!", "头痛 Hello"];
for (let i = 0; i < 300; i++) {
  let s = ""; const n = 1 + Math.floor(rand() * 12);
  for (let k = 0; k < n; k++) s += pick(pieces);
  texts.push(s);
}
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const out = { texts, expect: {} };
for (const name of ["wpm-default", "wpm-cased", "wpm-cased-strip", "wpm-lower-keep"]) {
  const model = await llama.loadModel({ modelPath: `${name}.gguf`, vocabOnly: true });
  out.expect[name] = texts.map(t => Array.from(model._model.tokenize(t, false)));
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
