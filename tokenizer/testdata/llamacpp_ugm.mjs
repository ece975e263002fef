// llamacpp_ugm.mjs: references from llama.cpp v0.5.0 (node-llama-cpp 3.22.1,
// vocab-only models, add_special=false) for the unigram ("t5") vocabulary
// nomic-bert-moe and the WordPiece vocabulary bert-bge:
//
//  1. ggml-vocab-nomic-bert-moe.gguf.out for the standard test strings of
//     llama.cpp's test-tokenizer-0 (ggml-vocab-nomic-bert-moe.gguf.inp, a copy
//     of ggml-vocab-qwen35.gguf.inp: the common 46 strings and 4 accented
//     ones), written next to the vocabulary. Upstream has no vectors for this
//     vocabulary, so llama.cpp itself is the reference.
//  2. llamacpp_ugm.json: 400 random mixed zh/en texts (seeded, made here) and
//     hand-picked edge cases, with each vocabulary's ids without and with
//     parse_special, the detokenized text of the parse_special ids without
//     and with special tokens rendered, BOS/EOS/EOT, the end-of-generation
//     set and the add_bos/add_eos flags, and the pieces of 600 ids.
//
// Usage (from tokenizer/testdata):
//   NLC_DIR=~/nlc node llamacpp_ugm.mjs ../../testdata/vocab llamacpp_ugm.json
import { pathToFileURL } from "node:url";
import fs from "node:fs";
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(process.env.NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const [dir, outFile] = process.argv.slice(2);

// Mulberry32: a small seeded PRNG, so the texts are the same on every run.
let seed = 20261206;
const rand = () => {
  seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = a => a[Math.floor(rand() * a.length)];

const en = ["patient", "fever", "headache", "chest pain", "blood pressure", "mg", "twice daily", "Paracetamol",
  "IBUPROFEN", "diagnosis", "hypertension", "don't", "it's", "we'll", "X-ray", "CT", "MRI", "ECG", "HbA1c",
  "e.g.", "i.v.", "post-op", "follow-up", "q8h", "COVID-19", "SpO2", "re-admission", "naïve", "café", "Ärzte",
  "Straße", "résumé", "Hello", "world", "the", "and", "of", "a"];
const zh = ["头痛", "三天", "发热", "咳嗽", "胸痛", "血压", "患者", "诊断", "高血压", "糖尿病", "每日两次", "口服",
  "布洛芬", "对乙酰氨基酚", "复查", "怎么办", "医生", "护士", "病历", "过敏史", "无", "阴性", "阳性", "心电图",
  "住院", "出院", "手术后", "随访", "血常规", "肝功能", "剂量", "毫克", "体温", "呼吸", "脉搏", "龘", "𠀋", "𪚥"];
const num = ["39.5", "120/80", "500", "0.5", "2026", "3", "10^9/L", "1,000", "½", "²", "①", "Ⅻ", "１２３", "٣"];
const unit = ["°C", "℃", "mg", "mL", "㎎", "㎖", "mmHg", "kg/m²", "μg", "µg", "%", "％", "×", "±"];
const punct = [",", ".", "!", "?", ":", ";", "(", ")", "[", "]", "\"", "'", "-", "—", "…", "，", "。", "！", "？",
  "：", "；", "（", "）", "“", "”", "、", "《", "》", "「", "」", "~", "～", "/", "\\", "@", "#", "&", "*", "_"];
const ws = [" ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\u3000", "\u00a0", "\u2009", "\u200b", "\ufeff", " \t "];
const odd = ["ﬁ", "ﬂ", "Ａ", "ｂ", "ｶﾀｶﾅ", "ｱｲｳ", "ﾞ", "™", "℡", "㈱", "㍿", "Å", "e\u0301", "A\u030a", "ǅ", "ß",
  "ẞ", "İ", "ı", "Σ", "ς", "ω", "Привет", "مرحبا", "नमस्ते", "こんにちは", "カタカナ", "안녕하세요", "한국", "ไทย",
  "😀", "👩‍⚕️", "🇨🇳", "❤️", "\u0001", "\u007f", "\u0085", "\u2028", "\u00ad", "\u0300", "\ufffd", "\ue000", "\uffff",
  "⑩", "㊣", "⺀", "⼀", "豈", "ｍｇ", "ＣＴ", "ｈｅｌｌｏ"];
const special = ["<s>", "</s>", "<unk>", "<pad>", "<mask>", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", " <mask>", "<mask> ", "<ma", "</"];
const pools = [[en, 6], [zh, 6], [num, 2], [unit, 2], [punct, 3], [ws, 5], [odd, 2], [special, 1]];
const total = pools.reduce((a, [, w]) => a + w, 0);
const piece = () => {
  let r = rand() * total;
  for (const [p, w] of pools) { if ((r -= w) < 0) return pick(p); }
  return pick(en);
};
// Random code points from mixed ranges (BMP letters, CJK, symbols, astral).
const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x3000, 0x30ff], [0x4e00, 0x9fff],
  [0xac00, 0xd7a3], [0xff00, 0xffef], [0x2000, 0x2bff], [0x1f300, 0x1f64f], [0x20000, 0x2a6df], [0xf900, 0xfaff]];
const randomChars = n => {
  let s = "";
  for (let i = 0; i < n; i++) {
    const [a, b] = pick(ranges);
    s += String.fromCodePoint(a + Math.floor(rand() * (b - a + 1)));
  }
  return s;
};

const texts = [
  "", " ", "  ", "\t", "\n", " \n ", "Hello world", " Hello world", "Hello  world ", "  Hello   world  ",
  "头痛三天，怎么办？", "患者 男 65岁 发热 39.5°C 三天", "Ｈｅｌｌｏ　Ｗｏｒｌｄ", "ﬁnancial ﬂow", "①②③ ⑴⑵ ㈠",
  "㎎ ㎖ ㎏ ℃ ℉", "ｶﾀｶﾅ ﾊﾟﾝ ｶﾞ", "e\u0301 A\u030a o\u0308", "<mask>", "a <mask> b", "a<mask>b", "<s>x</s>",
  "<ma", "<mas k>", "[CLS] hello [SEP]", "\u0000", "a\u0000b", "\u3000\u3000中文\u3000", "😀😀 👩‍⚕️",
  "\u200b\u200b", "\ufeffbom", "I'm sure it's the patient's", "e.g. i.v. q8h p.r.n.", "1,000 mg/kg·d",
];
for (let i = 0; i < 400; i++) {
  let s = "";
  if (i % 10 === 9) s = randomChars(1 + Math.floor(rand() * 40));
  else { const n = 1 + Math.floor(rand() * 30); for (let k = 0; k < n; k++) s += piece(); }
  texts.push(s);
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const load = name => llama.loadModel({ modelPath: `${dir}/ggml-vocab-${name}.gguf`, vocabOnly: true });

// 1. Test-tokenizer-0 vectors for nomic-bert-moe.
{
  const sep = "\n__ggml_vocab_test__\n";
  const base = fs.readFileSync(`${dir}/ggml-vocab-nomic-bert-moe.gguf.inp`, "utf8").split(sep).slice(0, -1);
  const model = await load("nomic-bert-moe");
  const lines = base.map(t => Array.from(model._model.tokenize(t, false)).map(id => " " + id).join(""));
  fs.writeFileSync(`${dir}/ggml-vocab-nomic-bert-moe.gguf.out`, lines.join("\n") + "\n");
  await model.dispose();
}

// 2. Random and edge-case texts.
const out = { texts, vocabs: {} };
for (const name of ["nomic-bert-moe", "bert-bge"]) {
  const model = await load(name);
  const m = model._model;
  const n = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const plain = [], special = [], detok = [], detokSpecial = [];
  for (const t of texts) {
    const sp = Array.from(m.tokenize(t, true));
    plain.push(Array.from(m.tokenize(t, false)));
    special.push(sp);
    detok.push(m.detokenize(Uint32Array.from(sp), false));
    detokSpecial.push(m.detokenize(Uint32Array.from(sp), true));
  }
  const ids = [];
  for (let id = 0; id < Math.min(n, 300); id++) ids.push(id);
  for (let k = 0; k < 300; k++) ids.push(Math.min(n - 1, Math.floor(k * n / 300) + (k % 7)));
  const pieces = ids.map(id => [id, m.detokenize(Uint32Array.from([id]), false), m.detokenize(Uint32Array.from([id]), true)]);
  const eog = [];
  for (let id = 0; id < n; id++) if (m.isEogToken(id)) eog.push(id);
  out.vocabs[name] = { n_vocab: n, bos: m.tokenBos(), eos: m.tokenEos(), eot: m.eotToken(), eog, add_bos: m.shouldPrependBosToken(),
    add_eos: m.shouldAppendEosToken(), plain, special, detok, detok_special: detokSpecial, pieces };
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
