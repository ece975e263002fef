// llamacpp_ugm_long.mjs: the 1 MB mixed zh/en clinical text of
// bench_test.go's mixedText (rebuilt here the same way) through llama.cpp
// v0.5.0 (node-llama-cpp 3.22.1, vocab-only, add_special=false,
// parse_special=false) with nomic-bert-moe (unigram: one Viterbi over the
// whole text) and bert-bge (WordPiece): byte length, id count and hash
// sum(id_i * 31^k) mod 1e9+7, and llama.cpp's best time of 3.
// Usage (from tokenizer/testdata):
//   NLC_DIR=~/nlc node llamacpp_ugm_long.mjs ../../testdata/vocab llamacpp_ugm_long.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [dir, outFile] = process.argv.slice(2);
const parts = [
  "患者男性，45岁，主诉胸痛3天。", "The patient reports chest pain radiating to the left arm. ",
  "血压 140/90 mmHg，心率 88 次/分。", "ECG shows ST elevation in leads II, III and aVF.\n",
  "建议立即行冠状动脉造影检查！", "  Aspirin 300 mg PO stat; clopidogrel 600 mg.\t",
  "既往有高血压病史10年，规律服用氨氯地平。", "Allergies: none known (NKDA).\n\n",
];
let text = "", bytes = 0;
for (let i = 0; bytes < 1 << 20; i++) {
  let add = parts[i % parts.length];
  if (i % 5 === 0) add += String(i * 37);
  text += add; bytes += Buffer.byteLength(add);
}
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const out = {};
for (const name of ["nomic-bert-moe", "bert-bge"]) {
  const model = await llama.loadModel({ modelPath: `${dir}/ggml-vocab-${name}.gguf`, vocabOnly: true });
  let best = 1e9, ids;
  for (let k = 0; k < 3; k++) { const t0 = performance.now(); ids = model._model.tokenize(text, false); best = Math.min(best, performance.now() - t0); }
  out[name] = { bytes, n: ids.length, sum: Array.from(ids).reduce((a, b) => (a * 31 + b) % 1000000007, 0), ms: Math.round(best) };
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
