// Package synth writes seeded random-weight GGUF models with the real tensor
// layout of an architecture and a real vocabulary, for tests (tiny models run
// once in llama.cpp to record references) and benchmarks (real shapes such as
// llama-1b). Same spec and seed give the same bytes.
package synth

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"dayi/weights"
)

// Spec describes a model to synthesise.
type Spec struct {
	Arch          string // llama, qwen2, qwen3, gemma3, gemma2
	Dim           int
	Layers        int
	Heads         int
	KVHeads       int
	HeadDim       int // 0 = Dim/Heads
	FFN           int
	ContextLength int
	RopeBase      float64
	SlidingWindow int  // gemma3, gemma2
	TiedOutput    bool // no output.weight
	// AttnSoftcap and FinalSoftcap > 0 write gemma2's soft-caps of the
	// attention scores and the logits.
	AttnSoftcap, FinalSoftcap float64
	// Llama3RopeFactor > 0 writes rope_freqs.weight as Llama 3.1's "llama3"
	// rope scaling (factor, low 1, high 4, original context 8192).
	Llama3RopeFactor float64
	// RopeScaling ("linear" or "yarn") with RopeFactor, RopeOrigCtx and
	// RopeAttnFactor (each written when non-zero) write the rope.scaling.*
	// keys convert_hf_to_gguf writes for such a model (see rope.go).
	RopeScaling    string
	RopeFactor     float64
	RopeOrigCtx    int
	RopeAttnFactor float64
	// VocabFile is a GGUF whose tokenizer.* metadata is copied (llama.cpp's
	// ggml-vocab-*.gguf files).
	VocabFile string
	// Pooling is the bert encoders' <arch>.pooling_type (llama.cpp's enum
	// llama_pooling_type: 1 mean, 2 CLS, 3 last, 4 rank).
	Pooling int
	// ClassifierHead writes a reranker's classifier (cls.weight, cls.bias,
	// cls.output.weight, cls.output.bias: one score) to a bert encoder.
	ClassifierHead bool
	// Experts > 0 makes every MoEEvery-th layer (l % MoEEvery == 1) of a
	// nomic-bert-moe a mixture of Experts GELU experts, ExpertsUsed of them
	// per token.
	Experts, ExpertsUsed, MoEEvery int
	// AddSepToken writes tokenizer.ggml.add_sep_token = true over the
	// vocabulary's: a reranker's pair is then BOS query EOS SEP doc EOS
	// (llama.cpp server's format_prompt_rerank), XLM-R's <s> q </s></s> d </s>.
	AddSepToken bool
	// tokenTypes is the token-type table's row count (the vocabulary's
	// tokenizer.ggml.token_type_count, which llama.cpp checks it against).
	tokenTypes int64
}

// Presets are the shapes the benchmarks and tests use. Benchmark presets
// follow the public configs of Llama-3.2-1B-like (llama-1b: the issue's
// dims with a 32k SPM vocab), Qwen2.5-0.5B, Gemma-3-1B and Gemma-2-2B (with
// Gemma 3's vocabulary file, the Gemma tokenizer llama.cpp ships).
var presets = map[string]Spec{
	"llama-1b":   {Arch: "llama", Dim: 2048, Layers: 16, Heads: 32, KVHeads: 8, FFN: 8192, ContextLength: 4096, RopeBase: 10000, VocabFile: "ggml-vocab-llama-spm.gguf"},
	"qwen2-0.5b": {Arch: "qwen2", Dim: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, ContextLength: 4096, RopeBase: 1e6, TiedOutput: true, VocabFile: "ggml-vocab-qwen2.gguf"},
	"gemma3-1b":  {Arch: "gemma3", Dim: 1152, Layers: 26, Heads: 4, KVHeads: 1, HeadDim: 256, FFN: 6912, ContextLength: 4096, RopeBase: 1e6, SlidingWindow: 512, TiedOutput: true, VocabFile: "ggml-vocab-gemma-4.gguf"},
	"gemma2-2b":  {Arch: "gemma2", Dim: 2304, Layers: 26, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 9216, ContextLength: 4096, RopeBase: 10000, SlidingWindow: 4096, TiedOutput: true, AttnSoftcap: 50, FinalSoftcap: 30, VocabFile: "ggml-vocab-gemma-4.gguf"},
	// Real-shape presets (issue 16): the 4B–8B models hospitals run, from
	// the public configs of Llama-3.1-8B (with its llama3 rope scaling and
	// 128k context), MedGemma-4B (Gemma 3 4B's text tower: 2560 wide, 8/4
	// heads of 256, sliding window 1024, tied output) and Qwen3-8B. The
	// files are ~5 GB in Q4_K_M: make them on demand into a cache, never
	// in tests or CI.
	"llama-8b":    {Arch: "llama", Dim: 4096, Layers: 32, Heads: 32, KVHeads: 8, FFN: 14336, ContextLength: 131072, RopeBase: 500000, Llama3RopeFactor: 8, VocabFile: "ggml-vocab-llama-bpe.gguf"},
	"gemma3-4b":   {Arch: "gemma3", Dim: 2560, Layers: 34, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 10240, ContextLength: 131072, RopeBase: 1e6, SlidingWindow: 1024, TiedOutput: true, VocabFile: "ggml-vocab-gemma-4.gguf"},
	"qwen3-8b":    {Arch: "qwen3", Dim: 4096, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, FFN: 12288, ContextLength: 40960, RopeBase: 1e6, VocabFile: "ggml-vocab-qwen2.gguf"},
	"tiny-llama3": {Arch: "llama", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLength: 256, RopeBase: 500000, Llama3RopeFactor: 8, VocabFile: "ggml-vocab-llama-bpe.gguf"},
	// K-quant-capable rows (multiples of 256) with a real 32k vocabulary: the
	// smallest model on which llama.cpp's Q4_K_M mix really uses Q4_K/Q6_K.
	"tiny-llama-k": {Arch: "llama", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, ContextLength: 256, RopeBase: 10000, VocabFile: "ggml-vocab-llama-spm.gguf"},
	"tiny-llama":   {Arch: "llama", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLength: 256, RopeBase: 10000, VocabFile: "ggml-vocab-llama-spm.gguf"},
	"tiny-qwen2":   {Arch: "qwen2", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLength: 256, RopeBase: 1e6, VocabFile: "ggml-vocab-qwen2.gguf"},
	"tiny-qwen3":   {Arch: "qwen3", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 128, ContextLength: 256, RopeBase: 1e6, VocabFile: "ggml-vocab-qwen2.gguf"},
	// Gemma 2 with soft-caps low enough to bite on random weights (the real
	// 50 and 30 would leave tanh nearly linear) and a window of 4 so the
	// prompts cross it on the sliding layers 0 and 2.
	"tiny-gemma2": {Arch: "gemma2", Dim: 64, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 128, ContextLength: 256, RopeBase: 10000, SlidingWindow: 4, TiedOutput: true, AttnSoftcap: 2, FinalSoftcap: 3, VocabFile: "ggml-vocab-llama-spm.gguf"},
	// BERT encoders (bge-small's layout: post-LayerNorm blocks with biases,
	// learned positions, token types) on bge's WordPiece vocabulary: mean and
	// CLS pooling, and a reranker with a classifier head (rank pooling).
	"tiny-bert":      {Arch: "bert", Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, FFN: 128, ContextLength: 256, Pooling: 1, VocabFile: "ggml-vocab-bert-bge.gguf"},
	"tiny-bert-cls":  {Arch: "bert", Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, FFN: 128, ContextLength: 256, Pooling: 2, VocabFile: "ggml-vocab-bert-bge.gguf"},
	"tiny-bert-rank": {Arch: "bert", Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, FFN: 128, ContextLength: 256, Pooling: 4, ClassifierHead: true, VocabFile: "ggml-vocab-bert-bge.gguf"},
	// nomic-embed-text v1.5's layout (nomic-bert: rotary, fused QKV,
	// SwiGLU) on the bert WordPiece vocabulary, and v2's (nomic-bert-moe:
	// biases, every other layer a mixture of experts) on its own XLM-R
	// unigram vocabulary, narrower to keep its 250k-row table small.
	"tiny-nomic":     {Arch: "nomic-bert", Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, FFN: 128, ContextLength: 256, RopeBase: 1000, Pooling: 1, VocabFile: "ggml-vocab-bert-bge.gguf"},
	"tiny-nomic-moe": {Arch: "nomic-bert-moe", Dim: 32, Layers: 2, Heads: 2, KVHeads: 2, FFN: 64, ContextLength: 256, RopeBase: 10000, Pooling: 1, Experts: 4, ExpertsUsed: 2, MoEEvery: 2, VocabFile: "ggml-vocab-nomic-bert-moe.gguf"},
	// bge-m3's layout as llama.cpp's converter writes XLM-RoBERTa: arch
	// bert with the XLM-R unigram vocabulary, one token type, CLS pooling
	// (the converter drops RoBERTa's two padding position rows, so
	// positions start at 0 as in bert).
	"tiny-xlmr": {Arch: "bert", Dim: 32, Layers: 2, Heads: 2, KVHeads: 2, FFN: 64, ContextLength: 256, Pooling: 2, VocabFile: "ggml-vocab-nomic-bert-moe.gguf"},
	// bge-m3 itself (XLM-RoBERTa large: 24 layers, 1024 wide, 16 heads,
	// FFN 4096, 8192 positions; 568 M parameters, 256 M of them the
	// 250k-row token table), for the embedding speed rows of
	// benchmarks/README.md.
	"bge-m3": {Arch: "bert", Dim: 1024, Layers: 24, Heads: 16, KVHeads: 16, FFN: 4096, ContextLength: 8192, Pooling: 2, VocabFile: "ggml-vocab-nomic-bert-moe.gguf"},
	// bge-reranker-v2-m3's layout: tiny-xlmr with a classifier head and
	// the XLM-R pair format.
	"tiny-xlmr-rank": {Arch: "bert", Dim: 32, Layers: 2, Heads: 2, KVHeads: 2, FFN: 64, ContextLength: 256, Pooling: 4, ClassifierHead: true, AddSepToken: true, VocabFile: "ggml-vocab-nomic-bert-moe.gguf"},
	"tiny-gemma3":    {Arch: "gemma3", Dim: 64, Layers: 6, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 128, ContextLength: 256, RopeBase: 1e6, SlidingWindow: 4, TiedOutput: true, VocabFile: "ggml-vocab-gemma-4.gguf"},
}

// Preset returns a named spec.
func Preset(name string) (Spec, error) {
	s, ok := presets[name]
	if !ok {
		s, ok = ropePresets[name]
	}
	if !ok {
		return Spec{}, fmt.Errorf("unknown preset %q (have: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return s, nil
}

// PresetNames lists the presets.
func PresetNames() []string {
	var n []string
	for k := range presets {
		n = append(n, k)
	}
	for k := range ropePresets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

type tensorSpec struct {
	name string
	dims []int64 // ggml order
	norm bool    // 1-D norm weight (kept F32, initialised near 1)
	std  float64
	// values, when set, are the tensor's exact contents.
	values []float32
}

// llama3RopeFactors are the per-pair divisors of Llama 3.1's rope scaling, as
// Meta's reference code and llama.cpp's converter compute them.
func llama3RopeFactors(s *Spec, hd int) []float32 {
	const low, high, orig = 1.0, 4.0, 8192.0
	lowWave, highWave := orig/low, orig/high
	out := make([]float32, hd/2)
	for i := range out {
		freq := 1 / math.Pow(s.RopeBase, float64(2*i)/float64(hd))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(s.Llama3RopeFactor)
		default:
			smooth := (orig/wave - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/s.Llama3RopeFactor + smooth))
		}
	}
	return out
}

// bertTensors is llama.cpp's LLM_ARCH_BERT layout (llama-model.cpp
// load_tensors; tensor names from llama-arch.cpp): learned token, token-type
// and position embeddings, an embedding LayerNorm, and per layer Q/K/V/O with
// biases, a LayerNorm after attention, a GELU feed-forward and a LayerNorm
// after it; no output head, except a reranker's classifier.
func (s *Spec) bertTensors(vocab int) []tensorSpec {
	d, ff := int64(s.Dim), int64(s.FFN)
	std := func(fanIn int64) float64 { return 1 / math.Sqrt(float64(fanIn)) }
	ts := []tensorSpec{
		{name: "token_embd.weight", dims: []int64{d, int64(vocab)}, std: 1},
		{name: "token_types.weight", dims: []int64{d, max(s.tokenTypes, 1)}, std: 1},
		{name: "position_embd.weight", dims: []int64{d, int64(s.ContextLength)}, std: 1},
		{name: "token_embd_norm.weight", dims: []int64{d}, norm: true},
		{name: "token_embd_norm.bias", dims: []int64{d}, std: 0.1},
	}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensorSpec{name: p + "attn_q.weight", dims: []int64{d, d}, std: std(d)},
			tensorSpec{name: p + "attn_q.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "attn_k.weight", dims: []int64{d, d}, std: std(d)},
			tensorSpec{name: p + "attn_k.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "attn_v.weight", dims: []int64{d, d}, std: std(d)},
			tensorSpec{name: p + "attn_v.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "attn_output.weight", dims: []int64{d, d}, std: std(d)},
			tensorSpec{name: p + "attn_output.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "attn_output_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "attn_output_norm.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "ffn_up.weight", dims: []int64{d, ff}, std: std(d)},
			tensorSpec{name: p + "ffn_up.bias", dims: []int64{ff}, std: 0.1},
			tensorSpec{name: p + "ffn_down.weight", dims: []int64{ff, d}, std: std(ff)},
			tensorSpec{name: p + "ffn_down.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: p + "layer_output_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "layer_output_norm.bias", dims: []int64{d}, std: 0.1},
		)
	}
	if s.ClassifierHead {
		ts = append(ts,
			tensorSpec{name: "cls.weight", dims: []int64{d, d}, std: std(d)},
			tensorSpec{name: "cls.bias", dims: []int64{d}, std: 0.1},
			tensorSpec{name: "cls.output.weight", dims: []int64{d, 1}, std: std(d)},
			tensorSpec{name: "cls.output.bias", dims: []int64{1}, std: 0.1})
	}
	return ts
}

// nomicTensors is llama.cpp's LLM_ARCH_NOMIC_BERT(_MOE) layout
// (llama-model.cpp load_tensors): bert's without the position table, with
// a fused attn_qkv; nomic-bert's feed-forward is SwiGLU without biases,
// nomic-bert-moe's GELU with biases and, on its MoE layers, a router
// (ffn_gate_inp) and expert-major up/down tables; nomic-bert-moe has
// biases on QKV and the attention output.
func (s *Spec) nomicTensors(vocab int) []tensorSpec {
	d, ff, e := int64(s.Dim), int64(s.FFN), int64(s.Experts)
	moe := s.Arch == "nomic-bert-moe"
	std := func(fanIn int64) float64 { return 1 / math.Sqrt(float64(fanIn)) }
	types := s.tokenTypes
	if types <= 0 {
		types = 2
	}
	ts := []tensorSpec{
		{name: "token_embd.weight", dims: []int64{d, int64(vocab)}, std: 1},
		{name: "token_types.weight", dims: []int64{d, types}, std: 1},
		{name: "token_embd_norm.weight", dims: []int64{d}, norm: true},
		{name: "token_embd_norm.bias", dims: []int64{d}, std: 0.1},
	}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, tensorSpec{name: p + "attn_qkv.weight", dims: []int64{d, 3 * d}, std: std(d)})
		if moe {
			ts = append(ts, tensorSpec{name: p + "attn_qkv.bias", dims: []int64{3 * d}, std: 0.1})
		}
		ts = append(ts, tensorSpec{name: p + "attn_output.weight", dims: []int64{d, d}, std: std(d)})
		if moe {
			ts = append(ts, tensorSpec{name: p + "attn_output.bias", dims: []int64{d}, std: 0.1})
		}
		ts = append(ts,
			tensorSpec{name: p + "attn_output_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "attn_output_norm.bias", dims: []int64{d}, std: 0.1})
		switch {
		case moe && s.MoEEvery > 0 && l%s.MoEEvery == 1:
			// A router with std 1 so that the gate probabilities differ
			// clearly and the top-k choice matters.
			ts = append(ts,
				tensorSpec{name: p + "ffn_gate_inp.weight", dims: []int64{d, e}, std: 1},
				tensorSpec{name: p + "ffn_up_exps.weight", dims: []int64{d, ff, e}, std: std(d)},
				tensorSpec{name: p + "ffn_down_exps.weight", dims: []int64{ff, d, e}, std: std(ff)})
		case moe:
			ts = append(ts,
				tensorSpec{name: p + "ffn_up.weight", dims: []int64{d, ff}, std: std(d)},
				tensorSpec{name: p + "ffn_up.bias", dims: []int64{ff}, std: 0.1},
				tensorSpec{name: p + "ffn_down.weight", dims: []int64{ff, d}, std: std(ff)},
				tensorSpec{name: p + "ffn_down.bias", dims: []int64{d}, std: 0.1})
		default:
			ts = append(ts,
				tensorSpec{name: p + "ffn_up.weight", dims: []int64{d, ff}, std: std(d)},
				tensorSpec{name: p + "ffn_gate.weight", dims: []int64{d, ff}, std: std(d)},
				tensorSpec{name: p + "ffn_down.weight", dims: []int64{ff, d}, std: std(ff)})
		}
		ts = append(ts,
			tensorSpec{name: p + "layer_output_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "layer_output_norm.bias", dims: []int64{d}, std: 0.1})
	}
	return ts
}

func (s *Spec) tensors(vocab int) []tensorSpec {
	switch s.Arch {
	case "bert":
		return s.bertTensors(vocab)
	case "nomic-bert", "nomic-bert-moe":
		return s.nomicTensors(vocab)
	}
	hd := s.HeadDim
	if hd == 0 {
		hd = s.Dim / s.Heads
	}
	d, q, kv, ff := int64(s.Dim), int64(s.Heads*hd), int64(s.KVHeads*hd), int64(s.FFN)
	std := func(fanIn int64) float64 { return 1 / math.Sqrt(float64(fanIn)) }
	embStd := 1.0
	if s.Arch == "gemma3" || s.Arch == "gemma2" {
		embStd = std(d) // gemma scales embeddings by √dim in the graph
	}
	ts := []tensorSpec{{name: "token_embd.weight", dims: []int64{d, int64(vocab)}, std: embStd}}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensorSpec{name: p + "attn_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "attn_q.weight", dims: []int64{d, q}, std: std(d)},
			tensorSpec{name: p + "attn_k.weight", dims: []int64{d, kv}, std: std(d)},
			tensorSpec{name: p + "attn_v.weight", dims: []int64{d, kv}, std: std(d)},
			tensorSpec{name: p + "attn_output.weight", dims: []int64{q, d}, std: std(q)},
			tensorSpec{name: p + "ffn_norm.weight", dims: []int64{d}, norm: true},
			tensorSpec{name: p + "ffn_gate.weight", dims: []int64{d, ff}, std: std(d)},
			tensorSpec{name: p + "ffn_up.weight", dims: []int64{d, ff}, std: std(d)},
			tensorSpec{name: p + "ffn_down.weight", dims: []int64{ff, d}, std: std(ff)},
		)
		switch s.Arch {
		case "qwen2":
			ts = append(ts,
				tensorSpec{name: p + "attn_q.bias", dims: []int64{q}, std: 0.1},
				tensorSpec{name: p + "attn_k.bias", dims: []int64{kv}, std: 0.1},
				tensorSpec{name: p + "attn_v.bias", dims: []int64{kv}, std: 0.1})
		case "qwen3":
			ts = append(ts,
				tensorSpec{name: p + "attn_q_norm.weight", dims: []int64{int64(hd)}, norm: true},
				tensorSpec{name: p + "attn_k_norm.weight", dims: []int64{int64(hd)}, norm: true})
		case "gemma3":
			ts = append(ts,
				tensorSpec{name: p + "attn_q_norm.weight", dims: []int64{int64(hd)}, norm: true},
				tensorSpec{name: p + "attn_k_norm.weight", dims: []int64{int64(hd)}, norm: true},
				tensorSpec{name: p + "post_attention_norm.weight", dims: []int64{d}, norm: true},
				tensorSpec{name: p + "post_ffw_norm.weight", dims: []int64{d}, norm: true})
		case "gemma2":
			ts = append(ts,
				tensorSpec{name: p + "post_attention_norm.weight", dims: []int64{d}, norm: true},
				tensorSpec{name: p + "post_ffw_norm.weight", dims: []int64{d}, norm: true})
		}
	}
	if s.Llama3RopeFactor > 0 {
		ts = append(ts, tensorSpec{name: "rope_freqs.weight", dims: []int64{int64(hd / 2)}, values: llama3RopeFactors(s, hd)})
	}
	ts = append(ts, tensorSpec{name: "output_norm.weight", dims: []int64{d}, norm: true})
	if !s.TiedOutput {
		ts = append(ts, tensorSpec{name: "output.weight", dims: []int64{d, int64(vocab)}, std: std(d)})
	}
	return ts
}

// keepF32 reports the tensors llama.cpp's quantizer leaves unquantized
// (llama-quant.cpp: BERT's position and token-type tables, which the graph
// adds rather than multiplies, and MoE routers, ffn_gate_inp), so that a
// quantized synthetic model has the layout llama.cpp itself would write
// (its CPU add cannot take a q8_0 token-type row).
func keepF32(name string) bool {
	return name == "position_embd.weight" || name == "token_types.weight" || strings.HasSuffix(name, ".ffn_gate_inp.weight")
}

// TypeFunc chooses the storage type of a matrix or a 3-D expert table (1-D
// tensors stay F32).
type TypeFunc func(name string, dims []int64) weights.Type

// Write synthesises the model into w. vocab is the opened VocabFile. The
// tensor data is generated tensor by tensor (memory stays at one tensor).
func Write(w io.Writer, s Spec, vocab *weights.File, seed uint64, typeFor TypeFunc, progress func(done, total int)) error {
	tokens := vocab.Strings("tokenizer.ggml.tokens")
	if len(tokens) == 0 {
		return fmt.Errorf("%s: no tokenizer.ggml.tokens", vocab.Path)
	}
	gw := weights.NewWriter(w)
	add := func(k string, v any) error {
		val, err := weights.ValueOf(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		return gw.AddKV(k, val)
	}
	hd := s.HeadDim
	if hd == 0 {
		hd = s.Dim / s.Heads
	}
	a := s.Arch
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", a},
		{"general.name", "dayi-synth-" + a},
		{"general.file_type", uint32(0)},
		{a + ".context_length", uint32(s.ContextLength)},
		{a + ".embedding_length", uint32(s.Dim)},
		{a + ".block_count", uint32(s.Layers)},
		{a + ".feed_forward_length", uint32(s.FFN)},
		{a + ".attention.head_count", uint32(s.Heads)},
		{a + ".attention.head_count_kv", uint32(s.KVHeads)},
		{a + ".attention.key_length", uint32(hd)},
		{a + ".attention.value_length", uint32(hd)},
	}
	if a == "nomic-bert" || a == "nomic-bert-moe" {
		kvs = append(kvs, []struct {
			k string
			v any
		}{
			{a + ".attention.layer_norm_epsilon", float32(1e-12)},
			{a + ".attention.causal", false},
			{a + ".pooling_type", uint32(s.Pooling)},
			{a + ".rope.freq_base", float32(s.RopeBase)},
		}...)
		if s.Experts > 0 {
			kvs = append(kvs, []struct {
				k string
				v any
			}{
				{a + ".moe_every_n_layers", uint32(s.MoEEvery)},
				{a + ".expert_count", uint32(s.Experts)},
				{a + ".expert_used_count", uint32(s.ExpertsUsed)},
			}...)
		}
	} else if a == "bert" {
		// bge's LayerNorm epsilon; encoders attend both ways.
		kvs = append(kvs, []struct {
			k string
			v any
		}{
			{a + ".attention.layer_norm_epsilon", float32(1e-12)},
			{a + ".attention.causal", false},
			{a + ".pooling_type", uint32(s.Pooling)},
		}...)
	} else {
		kvs = append(kvs, []struct {
			k string
			v any
		}{
			{a + ".attention.layer_norm_rms_epsilon", float32(1e-6)},
			{a + ".rope.freq_base", float32(s.RopeBase)},
			{a + ".rope.dimension_count", uint32(hd)},
		}...)
	}
	if s.SlidingWindow > 0 {
		kvs = append(kvs, struct {
			k string
			v any
		}{a + ".attention.sliding_window", uint32(s.SlidingWindow)})
	}
	kvs = append(kvs, s.ropeScalingKV()...)
	for _, c := range []struct {
		key string
		v   float64
	}{{a + ".attn_logit_softcapping", s.AttnSoftcap}, {a + ".final_logit_softcapping", s.FinalSoftcap}} {
		if c.v > 0 {
			kvs = append(kvs, struct {
				k string
				v any
			}{c.key, float32(c.v)})
		}
	}
	for _, kv := range kvs {
		if err := add(kv.k, kv.v); err != nil {
			return err
		}
	}
	if s.AddSepToken {
		if err := add("tokenizer.ggml.add_sep_token", true); err != nil {
			return err
		}
	}
	for _, kv := range vocab.KV {
		if s.AddSepToken && kv.Key == "tokenizer.ggml.add_sep_token" {
			continue
		}
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			if err := gw.AddKV(kv.Key, kv.Value); err != nil {
				return err
			}
		}
	}
	s.tokenTypes = vocab.Int("tokenizer.ggml.token_type_count", 2)
	ts := s.tensors(len(tokens))
	types := make([]weights.Type, len(ts))
	for i, t := range ts {
		types[i] = weights.TypeF32
		if len(t.dims) >= 2 && typeFor != nil && !keepF32(t.name) { // matrices and expert tables
			types[i] = typeFor(t.name, t.dims)
		}
		if err := gw.AddTensor(t.name, types[i], t.dims); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var buf []float32
	var out []byte
	for i, t := range ts {
		n := int64(1)
		for _, d := range t.dims {
			n *= d
		}
		if int64(cap(buf)) < n {
			buf = make([]float32, n)
		}
		buf = buf[:n]
		for j := range buf {
			if t.values != nil {
				buf[j] = t.values[j]
				continue
			}
			if t.norm {
				buf[j] = float32(1 + 0.1*rng.NormFloat64())
			} else {
				buf[j] = float32(t.std * rng.NormFloat64())
			}
		}
		size, err := types[i].RowSize(n)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.name, err)
		}
		if int64(cap(out)) < size {
			out = make([]byte, size)
		}
		out = out[:size]
		if err := weights.QuantizeRow(types[i], out, buf); err != nil {
			return fmt.Errorf("tensor %s: %w", t.name, err)
		}
		if err := gw.WriteTensor(t.name, out); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, len(ts))
		}
	}
	return gw.Close()
}
