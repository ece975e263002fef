// llamacpp_random.mjs: for each text of llamacpp_random.json ("texts": random
// mixed-script strings with special-token texts inserted, made once by a Go
// helper) and each vocabulary, the number of llama.cpp's ids and their hash
// sum(id_i * 31^k) mod 1e9+7, with parse_special off and on (llama.cpp v0.5.0
// via node-llama-cpp 3.22.1, add_special=false).
// Usage: NLC_DIR=~/nlc node llamacpp_random.mjs ../../../shared/vocab llamacpp_random.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [dir, file] = process.argv.slice(2);
const data = JSON.parse(fs.readFileSync(file, "utf8"));
const vocabs = ["bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2",
  "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const hash = ids => ids.reduce((a, b) => (a * 31 + b) % 1000000007, 0);
data.expect = {};
for (const name of vocabs) {
  const model = await llama.loadModel({ modelPath: `${dir}/ggml-vocab-${name}.gguf`, vocabOnly: true });
  data.expect[name] = data.texts.map(t => {
    const plain = Array.from(model._model.tokenize(t, false));
    const special = Array.from(model._model.tokenize(t, true));
    return [plain.length, hash(plain), special.length, hash(special)];
  });
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(file, JSON.stringify(data) + "\n");
