// mtmd_bench: times llama.cpp's image encode (mtmd_encode_chunk: preprocess,
// SigLIP tower, gemma3 projector) for dayi's speed comparison. Prints one
// JSON line per run. Usage: MODEL MMPROJ IMAGE THREADS RUNS FA(on|off|auto).
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static void quiet(ggml_log_level, const char *, void *) {}

// cpu_s is the process's user+system CPU time: on a machine shared with
// other work the wall time depends on the load, this much less.
static double cpu_s() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

int main(int argc, char ** argv) {
    if (argc < 7) { fprintf(stderr, "usage: %s MODEL MMPROJ IMAGE THREADS RUNS on|off|auto\n", argv[0]); return 2; }
    int threads = atoi(argv[4]), runs = atoi(argv[5]);
    llama_log_set(quiet, nullptr);
    mtmd_log_set(quiet, nullptr);
    mtmd_helper_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "load model failed\n"); return 1; }
    mtmd_context_params p = mtmd_context_params_default();
    p.use_gpu = false;
    p.n_threads = threads;
    p.print_timings = false;
    p.warmup = false;
    p.flash_attn_type = strcmp(argv[6], "on") == 0 ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                      : strcmp(argv[6], "off") == 0 ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
    auto t0 = std::chrono::steady_clock::now();
    mtmd_context * ctx = mtmd_init_from_file(argv[2], model, p);
    if (!ctx) { fprintf(stderr, "mmproj failed\n"); return 1; }
    double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mtmd_helper_bitmap_wrapper bw = mtmd_helper_bitmap_init_from_file(ctx, argv[3], false, mtmd_helper_init_opt_default());
    if (!bw.bitmap) { fprintf(stderr, "image failed\n"); return 1; }
    const char * prompt = "<__media__>";
    mtmd_input_text text = {prompt, strlen(prompt), false, true};
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    const mtmd_bitmap * bmps[1] = {bw.bitmap};
    if (mtmd_tokenize(ctx, chunks, &text, bmps, 1) != 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(c) != MTMD_INPUT_CHUNK_TYPE_IMAGE) continue;
        for (int r = 0; r < runs; r++) {
            auto t1 = std::chrono::steady_clock::now();
            double c1 = cpu_s();
            if (mtmd_encode_chunk(ctx, c) != 0) { fprintf(stderr, "encode failed\n"); return 1; }
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
            printf("{\"run\": %d, \"threads\": %d, \"fa\": \"%s\", \"tokens\": %zu, \"load_s\": %.3f, \"encode_s\": %.3f, \"encode_cpu_s\": %.3f}\n",
                   r, threads, argv[6], mtmd_input_chunk_get_n_tokens(c), load, s, cpu_s() - c1);
            fflush(stdout);
        }
    }
    return 0;
}
