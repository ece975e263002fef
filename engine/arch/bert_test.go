package arch

import (
	"fmt"
	"testing"
)

// bertSpec is a 2-layer bert file: dim 8, 2 heads of 4, FFN 16,
// vocabulary 10, context 64, with a reranker's classifier head.
func bertSpec() *ggufSpec {
	s := &ggufSpec{arch: "bert", kv: map[string]any{
		"embedding_length":             uint32(8),
		"block_count":                  uint32(2),
		"feed_forward_length":          uint32(16),
		"attention.head_count":         uint32(2),
		"attention.layer_norm_epsilon": float32(1e-12),
		"attention.causal":             false,
		"context_length":               uint32(64),
		"pooling_type":                 uint32(4),
	}, tensors: map[string][]int64{}, values: map[string][]float32{}}
	s.add("token_embd.weight", 8, 10)
	s.add("token_types.weight", 8, 2)
	s.add("position_embd.weight", 8, 64)
	s.add("token_embd_norm.weight", 8)
	s.add("token_embd_norm.bias", 8)
	for l := 0; l < 2; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
			s.add(p+n+".weight", 8, 8)
			s.add(p+n+".bias", 8)
		}
		for _, n := range []string{"attn_output_norm", "layer_output_norm"} {
			s.add(p+n+".weight", 8)
			s.add(p+n+".bias", 8)
		}
		s.add(p+"ffn_up.weight", 8, 16)
		s.add(p+"ffn_up.bias", 16)
		s.add(p+"ffn_down.weight", 16, 8)
		s.add(p+"ffn_down.bias", 8)
	}
	s.add("cls.weight", 8, 8)
	s.add("cls.bias", 8)
	s.add("cls.output.weight", 8, 1)
	s.add("cls.output.bias", 1)
	return s
}

// A bert file binds as an encoder (bidirectional cache view, no output
// head, the classifier found), and every malformed part of one is refused
// at load with an error naming it: a hostile file must not reach the graph
// or index a table out of range.
func TestBertLoadAndRejects(t *testing.T) {
	m, h, err := Load(bertSpec().file(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Caches) != 1 || !h.Caches[0].Bidirectional || h.NormEps != 1e-12 || h.Vocab != 10 {
		t.Fatalf("hyper: caches %+v eps %g vocab %d", h.Caches, h.NormEps, h.Vocab)
	}
	enc, ok := m.(Encoder)
	if !ok || enc.Classifier().Out == nil || enc.Classifier().W == nil {
		t.Fatalf("not an encoder with a classifier: %T", m)
	}
	if norm, out := m.OutputWeights(); norm != nil || out != nil {
		t.Fatal("an encoder has no output head")
	}
	for _, tc := range []struct {
		name  string
		edit  func(*ggufSpec)
		parts []string
	}{
		{"no positions", func(s *ggufSpec) { s.drop("position_embd.weight") }, []string{"position_embd.weight", "missing"}},
		{"positions shorter than the context", func(s *ggufSpec) { s.add("position_embd.weight", 8, 32) }, []string{"position_embd.weight"}},
		{"token types of another width", func(s *ggufSpec) { s.add("token_types.weight", 4, 2) }, []string{"token_types.weight"}},
		{"causal", func(s *ggufSpec) { s.kv["attention.causal"] = true }, []string{"causal"}},
		{"epsilon", func(s *ggufSpec) { s.kv["attention.layer_norm_epsilon"] = float32(-1) }, []string{"layer_norm_epsilon"}},
		{"classifier of another width", func(s *ggufSpec) { s.add("cls.weight", 8, 4) }, []string{"cls.weight"}},
		{"classifier bias without its weight", func(s *ggufSpec) { s.drop("cls.output.weight") }, []string{"classifier"}},
		{"classifier bias of the wrong size", func(s *ggufSpec) { s.add("cls.output.bias", 3) }, []string{"classifier"}},
		{"layer norm missing", func(s *ggufSpec) { s.drop("blk.1.layer_output_norm.bias") }, []string{"blk.1.layer_output_norm.bias"}},
		{"ffn of the wrong shape", func(s *ggufSpec) { s.add("blk.0.ffn_up.weight", 8, 12) }, []string{"blk.0.ffn_up.weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bertSpec()
			tc.edit(s)
			wantErr(t, loadErr(t, s), tc.parts...)
		})
	}
	// Biases and the head are optional (jina-reranker-v1-tiny has no
	// cls.weight; some conversions drop the attention output bias).
	s := bertSpec()
	s.drop("cls.weight")
	s.drop("cls.bias")
	s.drop("blk.0.attn_output.bias")
	if _, _, err := Load(s.file(t)); err != nil {
		t.Fatal(err)
	}
}
