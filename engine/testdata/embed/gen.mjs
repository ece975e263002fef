// Records llama.cpp's embeddings and rerank scores (node-llama-cpp 3.22.1's
// embedding and ranking contexts) on dayi's synthetic bert models, for
// engine/bert_test.go. Usage (see README.md):
//
//   NLC_DIR=~/nlc node engine/testdata/embed/gen.mjs embed MODEL.gguf OUT.json [--flash]
//   NLC_DIR=~/nlc node engine/testdata/embed/gen.mjs rank  MODEL.gguf OUT.json [--flash]
//
// Embeddings are llama.cpp's pooled vectors as llama_get_embeddings_seq
// returns them (not normalised); rank scores are the raw classifier outputs
// (node-llama-cpp returns sigmoid(score); the logit is taken back here).
import path from "node:path";
import fs from "node:fs";
import { createRequire } from "node:module";

const [mode, modelPath, outPath, ...rest] = process.argv.slice(2);
const flash = rest.includes("--flash");
const nlcDir = process.env.NLC_DIR ?? path.join(process.env.HOME, "nlc");
const require = createRequire(path.join(nlcDir, "package.json"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const texts = [
  "Once upon a time",
  "The patient reports chest pain and shortness of breath since yesterday.",
  "患者发热三天，伴咳嗽。",
  "Aspirin 100 mg daily; follow-up in 2 weeks. HbA1c 7.2%",
  "a",
];
const query = "What are the symptoms of a heart attack?";
const docs = [
  "Chest pain radiating to the left arm, sweating and shortness of breath are typical of myocardial infarction.",
  "The clinic is open from 8 am to 5 pm on weekdays.",
  "心肌梗死常见症状包括胸痛、出汗和呼吸困难。",
  "Bananas are rich in potassium.",
];

const logs = [];
const llama = await getLlama({
  gpu: false,
  logLevel: LlamaLogLevel.debug,
  logger: (level, msg) => logs.push(msg),
});
const model = await llama.loadModel({ modelPath, defaultContextFlashAttention: flash });
// The loader's own words that it read the file as a bert model.
const archLine = logs.find((l) => l.includes("print_info: arch ")) ?? "";
const out = {
  generator: "node-llama-cpp 3.22.1 (engine/testdata/embed/gen.mjs)",
  model: path.basename(modelPath),
  flash_attention: flash,
  llama_cpp_arch_log: archLine.trim(),
  cases: [],
};
if (mode === "embed") {
  const ctx = await model.createEmbeddingContext({ contextSize: 256, threads: 1 });
  for (const text of texts) {
    const ids = model.tokenize(text, false, "trimLeadingSpace");
    const full = [...ids];
    // What LlamaEmbeddingContext._prepareInput adds for this vocabulary.
    let n = ctx.calculateInputLength(text);
    let input = text;
    if (model.vocabularyType === "ugm") {
      // node-llama-cpp prepends nothing to a UGM text, but llama.cpp's own
      // llama_tokenize(add_special) (llama-embedding, llama-server) adds
      // BOS and EOS as the vocabulary's add_bos/add_eos say: feed that.
      input = [...ids];
      if (model.tokens.shouldPrependBosToken) input.unshift(model.tokens.bos);
      if (model.tokens.shouldAppendEosToken) input.push(model.tokens.eos);
      n = input.length;
    }
    const e = await ctx.getEmbeddingFor(input);
    out.cases.push({ text, text_ids: full, input_length: n, embedding: Array.from(e.vector) });
  }
} else if (mode === "rank") {
  const ctx = await model.createRankingContext({ contextSize: 256, threads: 1 });
  out.query = query;
  for (const doc of docs) {
    const p = await ctx.rank(query, doc);
    out.cases.push({
      document: doc,
      input_length: ctx.calculateInputLength(query, doc),
      probability: p,
      score: Math.log(p / (1 - p)),
    });
  }
  out.tokens = { bos: model.tokens.bos, eos: model.tokens.eos, sep: model.tokens.sep };
} else {
  throw new Error(`unknown mode ${mode}`);
}
fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${outPath}: ${out.cases.length} cases; ${out.llama_cpp_arch_log}`);
await llama.dispose();
