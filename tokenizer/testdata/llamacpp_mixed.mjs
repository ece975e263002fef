// llamacpp_mixed.mjs: token count and a hash of llama.cpp's ids (v0.5.0 via
// node-llama-cpp 3.22.1) for the 1 MB mixed text of bench_test.go's mixedText,
// written to /tmp/tokscratch/mixed.txt beforehand; also prints llama.cpp's
// tokenization speed. Usage: NLC_DIR=~/nlc node llamacpp_mixed.mjs
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const text = fs.readFileSync("/tmp/tokscratch/mixed.txt", "utf8");
const res = {};
for (const name of ["llama-spm", "qwen2", "llama-bpe", "gemma-4"]) {
  const model = await llama.loadModel({ modelPath: `/work/shared/vocab/ggml-vocab-${name}.gguf`, vocabOnly: true });
  let best = 1e9, ids;
  for (let i = 0; i < 3; i++) { const t0 = performance.now(); ids = model._model.tokenize(text, false); best = Math.min(best, performance.now() - t0); }
  console.log(name, Buffer.byteLength(text), ids.length, best.toFixed(0), "ms", (Buffer.byteLength(text)/1e6/(best/1000)).toFixed(2), "MB/s");
  res[name] = { n: ids.length, sum: ids.reduce((a, b) => (a * 31 + b) % 1000000007, 0) };
  await model.dispose();
}
fs.writeFileSync("/tmp/tokscratch/mixed_ref.json", JSON.stringify(res));
await llama.dispose();
