// Renders every template in ../templates/manifest.json with the REAL Jinja semantics of @huggingface/jinja
// (the engine transformers.js uses; trim_blocks and lstrip_blocks like transformers' apply_chat_template) for
// every conversation in ../conversations.json, with and without add_generation_prompt, and writes
// ../rendered.json. The Go tests compare chat.Render against these outputs. See README.md.
import { Template } from "@huggingface/jinja";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const manifest = JSON.parse(readFileSync(join(root, "templates", "manifest.json"), "utf8"));
const convs = JSON.parse(readFileSync(join(root, "conversations.json"), "utf8"));

const out = [];
for (const t of manifest) {
  const src = readFileSync(join(root, "templates", t.file), "utf8");
  const tmpl = new Template(src);
  for (const c of convs) {
    for (const gen of [true, false]) {
      const rec = { file: t.file, conversation: c.id, add_generation_prompt: gen };
      try {
        rec.output = tmpl.render({
          messages: c.messages,
          add_generation_prompt: gen,
          bos_token: t.bos,
          eos_token: t.eos,
        });
      } catch (e) {
        // The template itself refuses this conversation (e.g. "System role not supported").
        rec.error = String(e.message || e);
      }
      out.push(rec);
    }
  }
}
writeFileSync(join(root, "rendered.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`rendered ${out.length} cases (${out.filter((r) => r.error).length} refused by the template)`);
