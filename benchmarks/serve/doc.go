// Package serve measures dayi's serving throughput under concurrent load
// (`dayi bench serve`, issue 16 "Batching throughput"): N streaming clients
// drive a running dayi server through its Ollama API at once, each with a
// distinct prompt of P tokens and G greedy tokens, and the package reports
// per N the aggregate prompt and decode tokens per second, time to first
// token and inter-token latency. Next to it, it runs llama.cpp's
// llama-batched-bench (same file, threads and per-sequence context) and
// parses its table, so the two engines' batching can be compared.
//
// The two measure different things on purpose: llama-batched-bench prefills
// all N prompts in one batch and then decodes them in lock-step with no
// HTTP, no sampling and no text; dayi's numbers are what N real clients
// get from `dayi serve` (each request prefilled on arrival, decode steps
// batched by the continuous-batching scheduler). The definitions of the
// aggregates are on Round.
package serve
