// Drives dayi serve with the official openai npm package. Needs
// DAYI_URL (e.g. http://127.0.0.1:18436/v1) and DAYI_KEY. Exits non-zero on
// the first failed check.
import assert from "node:assert/strict";
import fs from "node:fs";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.DAYI_URL, apiKey: process.env.DAYI_KEY, maxRetries: 0 });
const model = "dayi-tiny";
const messages = [{ role: "user", content: "Tell me a story about a dog." }];

// Models.
const models = [];
for await (const m of client.models.list()) models.push(m.id);
assert.ok(models.includes(model), `models: ${models}`);

// Chat, whole and streamed, greedy: the same text, with usage.
const whole = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
assert.equal(whole.choices[0].finish_reason, "length");
assert.equal(whole.usage.completion_tokens, 24);
const text = whole.choices[0].message.content;
assert.ok(text.length > 0);

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let streamed = "", chunks = 0, finish = null, usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  const c = chunk.choices[0];
  if (!c) continue;
  chunks++;
  streamed += c.delta?.content ?? "";
  if (c.finish_reason) finish = c.finish_reason;
}
assert.equal(streamed, text, "streamed text differs from the whole response");
assert.ok(chunks > 10, `only ${chunks} chunks: not streaming`);
assert.equal(finish, "length");
assert.equal(usage?.completion_tokens, 24);

// JSON schema response: the content parses and has the required fields.
const schema = {
  type: "object",
  properties: { diagnosis: { type: "string", maxLength: 16 }, urgent: { type: "boolean" } },
  required: ["diagnosis", "urgent"], additionalProperties: false,
};
const js = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "Assess the patient." }], max_tokens: 120, temperature: 0,
  response_format: { type: "json_schema", json_schema: { name: "assessment", schema, strict: true } },
});
const doc = JSON.parse(js.choices[0].message.content);
assert.equal(typeof doc.diagnosis, "string");
assert.equal(typeof doc.urgent, "boolean");
assert.deepEqual(Object.keys(doc).sort(), ["diagnosis", "urgent"]);

// Embeddings (the client asks for base64 by default and decodes it).
const emb = await client.embeddings.create({ model, input: ["chest pain", "chest pain", "sprained ankle"] });
assert.equal(emb.data.length, 3);
const [a, b, c] = emb.data.map((d) => d.embedding);
assert.ok(a.length > 0);
const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0);
assert.ok(Math.abs(dot(a, a) - 1) < 1e-3, `norm² ${dot(a, a)}`);
assert.deepEqual(a, b);
assert.ok(dot(a, c) < 0.99999);

// An embedding model (the tiny-bert encoder, DAYI_BERT_REF: llama.cpp's
// pooled vectors of the same model): the client's base64 default decodes to
// llama.cpp's normalised embeddings; dimensions truncates and renormalises.
const ref = JSON.parse(fs.readFileSync(process.env.DAYI_BERT_REF, "utf8"));
const unit = (v) => { const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0)); return v.map((x) => x / n); };
const bert = await client.embeddings.create({ model: "tiny-bert", input: ref.cases.map((c) => c.text) });
assert.equal(bert.data.length, ref.cases.length);
for (const d of bert.data) {
  const want = unit(ref.cases[d.index].embedding);
  assert.equal(d.embedding.length, want.length);
  const diff = Math.max(...d.embedding.map((x, i) => Math.abs(x - want[i])));
  assert.ok(diff < 4e-4, `tiny-bert ${JSON.stringify(ref.cases[d.index].text)}: differs from llama.cpp by ${diff}`);
}
const short = await client.embeddings.create({ model: "tiny-bert", input: ref.cases[0].text, dimensions: 16, encoding_format: "float" });
const want16 = unit(ref.cases[0].embedding.slice(0, 16));
assert.equal(short.data[0].embedding.length, 16);
assert.ok(Math.max(...short.data[0].embedding.map((x, i) => Math.abs(x - want16[i]))) < 4e-4);
await assert.rejects(client.embeddings.create({ model: "tiny-bert", input: "a", dimensions: 65 }), (e) => e.status === 400);

// Errors come back as the client's typed errors.
await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages }), (e) => e.status === 404);
const bad = new OpenAI({ baseURL: process.env.DAYI_URL, apiKey: "wrong", maxRetries: 0 });
await assert.rejects(bad.models.list(), (e) => e.status === 401);

console.log(`openai npm client against dayi: ok (${chunks} chunks, ${a.length}-dim embeddings, tiny-bert ${bert.data[0].embedding.length}-dim)`);
