// llamacpp_ugm_flags.mjs: unigram ids from llama.cpp v0.5.0 (node-llama-cpp
// 3.22.1, vocab-only, add_special=false) for the four ugm-*.gguf vocabularies
// written by ./ugmvocab (add_space_prefix and remove_extra_whitespaces on and
// off, user-defined tokens, nomic-bert-moe's charsmap), without and with
// parse_special, and the detokenized text, over the texts of
// llamacpp_ugm.json and cases aimed at spaces and user-defined prefixes.
// Usage (from tokenizer/testdata): NLC_DIR=~/nlc node llamacpp_ugm_flags.mjs llamacpp_ugm_flags.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [outFile] = process.argv.slice(2);
const texts = [
  "ＡＢＣ", "ＡＢx", "ＡＢＣＤ", "xＡＢＣ", "ＡＢ ＣＤ", "Ａ", "<do", "<doc>", "<doc>x", "a<doc> b", "<d<doc>",
  "x y", "x  y", "xx yy", "x y z", "▁▁", "a▁▁b", "▁", " ▁ ", "  lead", "trail  ", " both ", "a\u3000\u3000b",
  "\t\ttabs\t", "a\n\nb", "one two  three   four", " ", "   ", "ＡＢ　ＣＤ",
  ...JSON.parse(fs.readFileSync("llamacpp_ugm.json", "utf8")).texts,
];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const out = { texts, vocabs: {} };
for (const name of ["ugm-plain", "ugm-prefix", "ugm-merge", "ugm-prefix-merge"]) {
  const model = await llama.loadModel({ modelPath: `${name}.gguf`, vocabOnly: true });
  const m = model._model;
  const plain = [], special = [], detok = [];
  for (const t of texts) {
    const sp = Array.from(m.tokenize(t, true));
    plain.push(Array.from(m.tokenize(t, false)));
    special.push(sp);
    detok.push(m.detokenize(Uint32Array.from(sp), false));
  }
  out.vocabs[name] = { add_bos: m.shouldPrependBosToken(), add_eos: m.shouldAppendEosToken(), plain, special, detok };
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
