// llamacpp_ref.mjs: makes testdata/llamacpp_special.json with llama.cpp v0.5.0
// (node-llama-cpp 3.22.1, vocab-only models): tokenization with special-token
// parsing, detokenization with and without special tokens, and the BOS/EOS/EOT
// ids and end-of-generation set of each vocabulary.
// Usage: NLC_DIR=~/nlc node llamacpp_ref.mjs ../../../shared/vocab llamacpp_special.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const NLC_DIR = process.env.NLC_DIR || ".";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [dir, outFile] = process.argv.slice(2);
const vocabs = ["llama-spm", "llama-bpe", "qwen2", "gemma-4", "phi-3", "deepseek-llm", "command-r", "gpt-2", "bert-bge"];
const texts = [
  "<|im_start|>system\nYou are a careful clinician.<|im_end|>\n<|im_start|>user\n头痛三天，怎么办？<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nChest pain at 3am?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "<bos><start_of_turn>user\nFever 39.5 °C<end_of_turn>\n<start_of_turn>model\n",
  "<s>[INST] Is 500 mg paracetamol safe? [/INST] Usually.</s>",
  "<|user|>\n  Hi there  <|end|>\n<|assistant|>  ",
  "Hello <unk> world <s> and </s>",
  "<|endoftext|>text after <|endoftext|>",
  "[CLS] hello [SEP] [MASK] x",
  "",
  " leading space and trailing  ",
];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const out = {};
for (const name of vocabs) {
  const model = await llama.loadModel({ modelPath: `${dir}/ggml-vocab-${name}.gguf`, vocabOnly: true });
  const m = model._model;
  const n = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const eog = [];
  for (let id = 0; id < n; id++) if (m.isEogToken(id)) eog.push(id);
  const cases = [];
  for (const text of texts) {
    const special = Array.from(m.tokenize(text, true));
    const plain = Array.from(m.tokenize(text, false));
    cases.push({ text, special, plain,
      detok: m.detokenize(Uint32Array.from(special), false),
      detok_special: m.detokenize(Uint32Array.from(special), true) });
  }
  // Each of the first 300 ids and 300 spread over the vocabulary, detokenized alone.
  const single = [];
  for (let id = 0; id < Math.min(n, 300); id++) single.push(id);
  for (let k = 0; k < 300; k++) single.push(Math.floor(k * n / 300) + (k % 7));
  const pieces = single.filter(id => id < n).map(id => [id, m.detokenize(Uint32Array.from([id]), false), m.detokenize(Uint32Array.from([id]), true)]);
  out[name] = { n_vocab: n, bos: m.tokenBos(), eos: m.tokenEos(), eot: m.eotToken(),
    add_bos: m.shouldPrependBosToken(), add_eos: m.shouldAppendEosToken(), eog, cases, pieces };
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
