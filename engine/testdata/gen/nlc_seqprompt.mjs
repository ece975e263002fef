// nlc_ref.mjs - reference generator using node-llama-cpp (prebuilt llama.cpp CPU libs).
//
// Usage (see README.md):
//   NLC_DIR=~/nlc node nlc_ref.mjs ref --model M.gguf --out out.json \
//       [--threads 1] [--ctx 256] [--n 64] [--full-logits] [--top 10] [--step-top 5] [--kv-type F16|F32] \
//       --prompt "Once upon a time" --prompt "" ...
//   NLC_DIR=~/nlc node nlc_ref.mjs timing --model M.gguf --threads 1 [--ctx 512] [--pp 128] [--tg 128] [--reps 3]
//
// "ref" mode: for each prompt, tokenizes without special-token parsing (model.tokenize(text, false)),
// records ids without BOS and with BOS (llama.cpp default: BOS prepended iff tokenizer.ggml.add_bos_token /
// vocab default says so), evaluates the BOS-prefixed prompt (if the model wants BOS) in ONE batch,
// reads the logits of the last prompt position (full vector if --full-logits, else top-N),
// then decodes greedily N tokens one at a time (llama.cpp sampler with temperature 0 = argmax),
// recording top-k logits at every step. Stops early only at EOS/EOG (recorded).
import { pathToFileURL } from "node:url";
import fs from "node:fs";

const NLC_DIR = process.env.NLC_DIR || ".";
const nlc = await import(pathToFileURL(NLC_DIR + "/node_modules/node-llama-cpp/dist/index.js").href);
const { getLlama, LlamaLogLevel } = nlc;

function parseArgs(argv) {
    const a = { mode: argv[0], prompts: [] };
    for (let i = 1; i < argv.length; i++) {
        const k = argv[i];
        const v = argv[i + 1];
        switch (k) {
            case "--model": a.model = v; i++; break;
            case "--out": a.out = v; i++; break;
            case "--threads": a.threads = +v; i++; break;
            case "--ctx": a.ctx = +v; i++; break;
            case "--n": a.n = +v; i++; break;
            case "--top": a.top = +v; i++; break;
            case "--step-top": a.stepTop = +v; i++; break;
            case "--prompt": a.prompts.push(v); i++; break;
            case "--pp": a.pp = +v; i++; break;
            case "--tg": a.tg = +v; i++; break;
            case "--reps": a.reps = +v; i++; break;
            case "--full-logits": a.full = true; break;
            case "--no-full-logits": a.full = false; break;
            case "--name": a.name = v; i++; break;
            case "--kv-type": a.kvType = v; i++; break;
            default: throw new Error("unknown arg " + k);
        }
    }
    return a;
}

const args = parseArgs(process.argv.slice(2));
const threads = args.threads ?? 1;
const ctxSize = args.ctx ?? 256;
const kvType = args.kvType ?? "F16"; // KV cache element type (llama.cpp default F16)

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
const pkg = JSON.parse(fs.readFileSync(NLC_DIR + "/node_modules/node-llama-cpp/package.json", "utf8"));
const info = JSON.parse(fs.readFileSync(NLC_DIR + "/node_modules/node-llama-cpp/llama/llama.cpp.info.json", "utf8"));

const r6 = (x) => x; // keep full float32->double precision as returned

async function newSeq() {
    const context = await model.createContext({ contextSize: ctxSize, batchSize: ctxSize, threads, flashAttention: false, sequences: 1,
        experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType });
    return { context, seq: context.getSequence() };
}

function topOf(map, k) {
    // map is sorted descending by value already, but sort defensively (ties: lower id first)
    const arr = [...map.entries()].sort((x, y) => (y[1] - x[1]) || (x[0] - y[0]));
    return arr.slice(0, k).map(([id, logit]) => ({ id, logit, piece: model.detokenize([id], true) }));
}

async function refCase(prompt) {
    const noBos = model.tokenize(prompt, false);
    const bos = model.tokens.bos;
    const addBos = model.tokens.shouldPrependBosToken && bos != null;
    const withBos = addBos ? [bos, ...noBos] : [...noBos];
    if (withBos.length === 0) throw new Error("empty prompt and model adds no BOS");
    const { context, seq } = await newSeq();
    const n = args.n ?? 64;
    const K = args.top ?? 10;
    const stepK = args.stepTop ?? 5;
    const gen = [];
    const steps = [];
    let first = null;
    let input = withBos;
    let stopReason = "n_predict";
    for (let step = 0; step < n; step++) {
        const items = input.map((t, i) => i === input.length - 1
            ? [t, { generateNext: { token: true, logits: true, options: { temperature: 0 } } }]
            : t);
        let out;
        if (process.env.SEQ_PROMPT && input.length > 1) {
            for (let i = 0; i < input.length - 1; i++) await seq.controlledEvaluate([input[i]]);
            const r2 = await seq.controlledEvaluate([items[items.length - 1]]);
            out = r2[0].next;
        } else {
            const res = await seq.controlledEvaluate(items);
            out = res[input.length - 1].next;
        }
        const logits = out.logits;
        const top = topOf(logits, Math.max(K, stepK));
        // argmax check
        if (top[0].id !== out.token && top[0].logit !== logits.get(out.token))
            throw new Error(`sampler token ${out.token} != argmax ${top[0].id}`);
        if (step === 0) {
            first = { top: top.slice(0, K) };
            if (args.full) {
                const nv = logits.size;
                const vec = new Array(nv);
                for (const [id, l] of logits) vec[id] = l;
                first.n_vocab = nv;
                first.logits = vec;
            }
        }
        steps.push({ token: out.token, top: top.slice(0, stepK).map(({ id, logit }) => [id, logit]) });
        gen.push(out.token);
        if (model.isEogToken ? model.isEogToken(out.token) : out.token === model.tokens.eos) { stopReason = "eog"; break; }
        input = [out.token];
    }
    await context.dispose();
    return {
        prompt,
        prompt_ids_no_bos: noBos,
        prompt_ids: withBos,
        bos_added: addBos,
        n_predict: n,
        generated_ids: gen,
        generated_text: model.detokenize(gen, false),
        stop_reason: stopReason,
        first_position: first,
        steps_top: steps,
    };
}

if (args.mode === "ref") {
    const cases = [];
    for (const p of args.prompts) {
        cases.push(await refCase(p));
        process.stderr.write(`done: ${JSON.stringify(p)} -> ${JSON.stringify(cases.at(-1).generated_text.slice(0, 60))}\n`);
    }
    const out = {
        model: args.name ?? args.model.split("/").pop(),
        generator: `node-llama-cpp ${pkg.version}, llama.cpp ${info.llamaCppGithubRepo} ${info.tag} (prebuilt CPU, gpu:false)`,
        settings: { threads, context_size: ctxSize, batch_size: ctxSize, flash_attention: false, kv_cache_type: kvType, sampling: "greedy (temperature 0)",
            tokenize: "model.tokenize(text, specialTokens=false); BOS prepended when model.tokens.shouldPrependBosToken",
            prompt_eval: "whole prompt in one batch; logits read at last prompt position; then one token per decode" },
        vocab: { bos: model.tokens.bos, eos: model.tokens.eos, should_prepend_bos: model.tokens.shouldPrependBosToken },
        notes: "first_position.logits[i] = raw logit of token i at the position after the prompt (float32 widened to double). steps_top[j] = [[id, logit] x k] for generation step j (step 0 = after prompt).",
        cases,
    };
    fs.writeFileSync(args.out, JSON.stringify(out, null, 1) + "\n");
} else if (args.mode === "timing") {
    const pp = args.pp ?? 128, tg = args.tg ?? 128, reps = args.reps ?? 3;
    // deterministic prompt of exactly pp tokens: BOS + tokens of a repeated story text
    const text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. ";
    let toks = [];
    while (toks.length < pp - 1) toks.push(...model.tokenize(text.repeat(4), false));
    toks = [model.tokens.bos, ...toks.slice(0, pp - 1)];
    const results = [];
    for (let r = 0; r < reps; r++) {
        const { context, seq } = await newSeq();
        let t0 = performance.now();
        const items = toks.map((t, i) => i === toks.length - 1 ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t);
        const res = await seq.controlledEvaluate(items);
        const ppMs = performance.now() - t0;
        let next = res[toks.length - 1].next.token;
        t0 = performance.now();
        let count = 0;
        // tg: evaluate one token at a time via the standard generator (greedy), ignoring EOS
        for await (const t of seq.evaluate([next], { temperature: 0 })) {
            count++;
            if (count >= tg) break;
        }
        const tgMs = performance.now() - t0;
        results.push({ pp_tok_s: pp / (ppMs / 1000), tg_tok_s: count / (tgMs / 1000), pp_ms: ppMs, tg_ms: tgMs, tg_tokens: count });
        await context.dispose();
    }
    const summary = { model: args.model.split("/").pop(), threads, context_size: ctxSize, pp, tg, reps: results,
        best_pp_tok_s: Math.max(...results.map(r => r.pp_tok_s)), best_tg_tok_s: Math.max(...results.map(r => r.tg_tok_s)) };
    const s = JSON.stringify(summary, null, 1);
    if (args.out) fs.writeFileSync(args.out, s + "\n");
    console.log(s);
} else {
    throw new Error("mode must be ref or timing");
}
await model.dispose();
await llama.dispose();
