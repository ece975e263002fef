// mtmd_ref: llama.cpp (libmtmd + libllama) reference for dayi's vision tests.
// It tokenizes a prompt holding the media marker with one image exactly as
// llama-mtmd-cli does (mtmd_tokenize: BOS, text, <start_of_image>, image,
// <end_of_image>, text), prints the image chunk's embeddings
// (mtmd_encode_chunk), evaluates the chunks (mtmd_helper_eval_chunks: gemma3
// image chunks non-causal) and prints the first logits' top-K and a greedy
// continuation, as JSON on stdout. Build and run: see ../README.md.
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void quiet(ggml_log_level, const char *, void *) {}

static void top(const float * l, int n, int k, std::vector<int> & ids) {
    ids.resize(n);
    for (int i = 0; i < n; i++) ids[i] = i;
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int a, int b) { return l[a] > l[b]; });
    ids.resize(k);
}

int main(int argc, char ** argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s MODEL MMPROJ IMAGE PROMPT N_GREEDY TOPK [f32|f16 KV cache, default f32]\n", argv[0]);
        return 2;
    }
    const char * model_path = argv[1], * mmproj = argv[2], * image = argv[3], * prompt = argv[4];
    int n_greedy = atoi(argv[5]), topk = atoi(argv[6]);
    llama_log_set(quiet, nullptr);
    mtmd_log_set(quiet, nullptr);
    mtmd_helper_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) { fprintf(stderr, "load model failed\n"); return 1; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256; cp.n_batch = 256; cp.n_ubatch = 256;
    cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    bool kv16 = argc > 7 && strcmp(argv[7], "f16") == 0;
    cp.type_k = kv16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    cp.type_v = cp.type_k;
    llama_context * lctx = llama_init_from_model(model, cp);
    if (!lctx) { fprintf(stderr, "context failed\n"); return 1; }
    mtmd_context_params mparams = mtmd_context_params_default();
    mparams.use_gpu = false;
    mparams.n_threads = 1;
    mparams.print_timings = false;
    mparams.warmup = false;
    mparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    mtmd_context * mctx = mtmd_init_from_file(mmproj, model, mparams);
    if (!mctx) { fprintf(stderr, "mmproj failed\n"); return 1; }
    // IMAGE may list several files, comma-separated, one per marker.
    std::vector<const mtmd_bitmap *> bmps;
    std::string images = image;
    for (size_t at = 0; at <= images.size();) {
        size_t end = images.find(',', at);
        if (end == std::string::npos) end = images.size();
        std::string one = images.substr(at, end - at);
        mtmd_helper_bitmap_wrapper bw = mtmd_helper_bitmap_init_from_file(mctx, one.c_str(), false, mtmd_helper_init_opt_default());
        if (!bw.bitmap) { fprintf(stderr, "image %s failed\n", one.c_str()); return 1; }
        bmps.push_back(bw.bitmap);
        at = end + 1;
    }
    mtmd_input_text text = {prompt, strlen(prompt), true, true};
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    if (mtmd_tokenize(mctx, chunks, &text, bmps.data(), bmps.size()) != 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    int n_embd = llama_model_n_embd_inp(model);
    printf("{\n  \"prompt\": \"%s\",\n  \"chunks\": [\n", prompt);
    size_t nc = mtmd_input_chunks_size(chunks);
    for (size_t i = 0; i < nc; i++) {
        const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t n;
            const llama_token * t = mtmd_input_chunk_get_tokens_text(c, &n);
            printf("    {\"type\": \"text\", \"tokens\": [");
            for (size_t j = 0; j < n; j++) printf("%s%d", j ? ", " : "", t[j]);
            printf("]}");
        } else {
            if (mtmd_encode_chunk(mctx, c) != 0) { fprintf(stderr, "encode failed\n"); return 1; }
            const float * e = mtmd_get_output_embd(mctx);
            size_t n = mtmd_input_chunk_get_n_tokens(c);
            printf("    {\"type\": \"image\", \"n_tokens\": %zu, \"n_embd\": %d, \"non_causal\": %s, \"embd\": [", n, n_embd,
                   mtmd_decode_use_non_causal(mctx, c) ? "true" : "false");
            for (size_t j = 0; j < n * n_embd; j++) printf("%s%.9g", j ? ", " : "", e[j]);
            printf("]}");
        }
        printf("%s\n", i + 1 < nc ? "," : "");
    }
    printf("  ],\n");
    llama_pos n_past = 0;
    if (mtmd_helper_eval_chunks(mctx, lctx, chunks, 0, 0, 256, true, &n_past) != 0) { fprintf(stderr, "eval failed\n"); return 1; }
    printf("  \"n_past\": %d,\n", n_past);
    std::vector<int> ids;
    const float * l = llama_get_logits_ith(lctx, -1);
    top(l, n_vocab, topk, ids);
    printf("  \"first_top\": [");
    for (int j = 0; j < topk; j++) printf("%s[%d, %.9g]", j ? ", " : "", ids[j], l[ids[j]]);
    printf("],\n  \"greedy\": [");
    std::string out;
    std::vector<float> margins;
    for (int s = 0; s < n_greedy; s++) {
        top(l, n_vocab, 2, ids);
        int id = ids[0];
        margins.push_back(l[ids[0]] - l[ids[1]]);
        printf("%s%d", s ? ", " : "", id);
        char piece[256];
        int np = llama_token_to_piece(vocab, id, piece, sizeof piece, 0, false);
        if (np > 0) out.append(piece, np);
        if (llama_vocab_is_eog(vocab, id)) break;
        llama_token tok = id;
        llama_batch b = llama_batch_get_one(&tok, 1);
        if (llama_decode(lctx, b) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        n_past++;
        l = llama_get_logits_ith(lctx, -1);
    }
    printf("],\n  \"greedy_margins\": [");
    for (size_t j = 0; j < margins.size(); j++) printf("%s%.6g", j ? ", " : "", margins[j]);
    printf("],\n  \"greedy_text_hex\": \"");
    for (unsigned char ch : out) printf("%02x", ch);
    printf("\"\n}\n");
    mtmd_input_chunks_free(chunks);
    for (const mtmd_bitmap * b : bmps) mtmd_bitmap_free(const_cast<mtmd_bitmap *>(b));
    mtmd_free(mctx);
    llama_free(lctx);
    llama_model_free(model);
    return 0;
}
