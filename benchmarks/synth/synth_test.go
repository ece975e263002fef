package synth

import (
	"math"
	"testing"
)

// TestRealShapePresets checks the 4B–8B presets against the parameter counts
// their publishers give, so a wrong width, head count or FFN size cannot hide
// behind a plausible-looking file size: Llama-3.1-8B's safetensors hold
// 8,030,261,248 parameters (Hugging Face model card); Qwen3-8B's card says
// 8.2B parameters, 6.95B of them non-embedding; the Gemma 3 technical report
// (Table 1) gives the 4B model 3,209M non-embedding parameters. The
// vocabulary sizes are the token counts of the vocabulary files the presets
// name (llama-bpe 128256, qwen2 151936, gemma 262144).
func TestRealShapePresets(t *testing.T) {
	count := func(name string, vocab int) (total, embedding int64) {
		s, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range s.tensors(vocab) {
			if ts.name == "rope_freqs.weight" { // a constant table, not a parameter
				continue
			}
			n := int64(1)
			for _, d := range ts.dims {
				n *= d
			}
			total += n
			if ts.name == "token_embd.weight" || ts.name == "output.weight" {
				embedding += n
			}
		}
		return total, embedding
	}
	if total, _ := count("llama-8b", 128256); total != 8030261248 {
		t.Errorf("llama-8b: %d parameters, Llama-3.1-8B has 8030261248", total)
	}
	total, emb := count("qwen3-8b", 151936)
	if got := math.Round(float64(total) / 1e8); got != 82 {
		t.Errorf("qwen3-8b: %d parameters, Qwen3-8B has 8.2B", total)
	}
	if got := math.Round(float64(total-emb) / 1e7); got != 695 {
		t.Errorf("qwen3-8b: %d non-embedding parameters, Qwen3-8B has 6.95B", total-emb)
	}
	total, emb = count("gemma3-4b", 262144)
	if got := math.Round(float64(total-emb) / 1e6); got != 3209 {
		t.Errorf("gemma3-4b: %d non-embedding parameters, Gemma 3 4B has 3209M", total-emb)
	}
	for _, name := range []string{"llama-8b", "gemma3-4b", "qwen3-8b"} {
		s, _ := Preset(name)
		// Every matrix row must be a whole number of K-quant super-blocks
		// (256), or q4_k_m/q5_k_m/q6_k files would fall back to other types.
		hd := s.HeadDim
		if hd == 0 {
			hd = s.Dim / s.Heads
		}
		for _, n := range []int{s.Dim, s.FFN, s.Heads * hd} {
			if n%256 != 0 {
				t.Errorf("%s: row length %d is not a multiple of 256", name, n)
			}
		}
	}
	if s, _ := Preset("gemma3-4b"); s.SlidingWindow != 1024 || !s.TiedOutput {
		t.Errorf("gemma3-4b: window %d tied %v, MedGemma-4B has 1024 and a tied output", s.SlidingWindow, s.TiedOutput)
	}
}
