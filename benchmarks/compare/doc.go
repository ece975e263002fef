// Package compare runs dayi and native llama.cpp side by side on the same
// synthetic GGUF files (benchmarks/synth + dayi's llama.cpp-style quantizer)
// with the same thread counts, and reports prefill/decode speed, peak RSS and
// decode speed as a share of the host's memory read bandwidth.
//
// llama.cpp is built once from the source that ships inside the npm package
// node-llama-cpp (a git bundle) into a cache folder; nothing of llama.cpp is
// kept in the repository. The package never downloads models: every model is
// synthesised locally.
package compare
