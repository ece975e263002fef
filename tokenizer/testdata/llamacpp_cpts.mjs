// llamacpp_cpts.mjs: every assigned Unicode code point through llama.cpp
// v0.5.0 (node-llama-cpp 3.22.1, vocab-only, add_special=false,
// parse_special=false), for the unigram vocabulary nomic-bert-moe and the
// WordPiece vocabulary bert-bge. The code points 0..0x323AF and
// 0xE0000..0xE01EF without surrogates are taken in blocks of 64; each block
// gives two texts, the code points alone ("c1 c2 ...") and each between two
// letters ("ac1b ac2b ..."), joined by spaces. For each text the file holds
// the number of ids and their hash sum(id_i * 31^k) mod 1e9+7; cpts_test.go
// rebuilds the same texts. This catches differences in the per-code-point
// tables (charsmap, NFD, lowercase, categories, whitespace) that random text
// would miss.
// Usage (from tokenizer/testdata):
//   NLC_DIR=~/nlc node llamacpp_cpts.mjs ../../testdata/vocab llamacpp_cpts.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [dir, outFile] = process.argv.slice(2);
const cpts = [];
for (let c = 0; c <= 0x323af; c++) if (c < 0xd800 || c > 0xdfff) cpts.push(c);
for (let c = 0xe0000; c <= 0xe01ef; c++) cpts.push(c);
const texts = [];
for (let i = 0; i < cpts.length; i += 64) {
  const block = cpts.slice(i, i + 64).map(c => String.fromCodePoint(c));
  texts.push(block.join(" "), block.map(s => "a" + s + "b").join(" "));
}
const hash = ids => ids.reduce((a, b) => (a * 31 + b) % 1000000007, 0);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const out = { texts: texts.length, expect: {} };
for (const name of ["nomic-bert-moe", "bert-bge"]) {
  const model = await llama.loadModel({ modelPath: `${dir}/ggml-vocab-${name}.gguf`, vocabOnly: true });
  out.expect[name] = texts.map(t => { const ids = Array.from(model._model.tokenize(t, false)); return [ids.length, hash(ids)]; });
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
