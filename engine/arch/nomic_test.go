package arch

import (
	"fmt"
	"testing"
)

// nomicSpec is a two-layer nomic-bert (SwiGLU) or nomic-bert-moe (layer 1
// a mixture of 4 experts, 2 used) with dim 8, 2 heads of 4.
func nomicSpec(arch string) *ggufSpec {
	s := &ggufSpec{arch: arch, kv: map[string]any{
		"embedding_length":             uint32(8),
		"block_count":                  uint32(2),
		"feed_forward_length":          uint32(16),
		"attention.head_count":         uint32(2),
		"attention.layer_norm_epsilon": float32(1e-12),
		"attention.causal":             false,
		"pooling_type":                 uint32(1),
		"rope.freq_base":               float32(1000),
		"context_length":               uint32(64),
	}, tensors: map[string][]int64{}, values: map[string][]float32{}}
	moe := arch == "nomic-bert-moe"
	if moe {
		s.kv["moe_every_n_layers"] = uint32(2)
		s.kv["expert_count"] = uint32(4)
		s.kv["expert_used_count"] = uint32(2)
	}
	s.add("token_embd.weight", 8, 10)
	s.add("token_types.weight", 8, 1)
	s.add("token_embd_norm.weight", 8)
	s.add("token_embd_norm.bias", 8)
	for l := 0; l < 2; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		s.add(p+"attn_qkv.weight", 8, 24)
		s.add(p+"attn_output.weight", 8, 8)
		s.add(p+"attn_output_norm.weight", 8)
		s.add(p+"attn_output_norm.bias", 8)
		s.add(p+"layer_output_norm.weight", 8)
		s.add(p+"layer_output_norm.bias", 8)
		switch {
		case moe && l == 1:
			s.add(p+"ffn_gate_inp.weight", 8, 4)
			s.add(p+"ffn_up_exps.weight", 8, 16, 4)
			s.add(p+"ffn_down_exps.weight", 16, 8, 4)
		case moe:
			s.add(p+"ffn_up.weight", 8, 16)
			s.add(p+"ffn_up.bias", 16)
			s.add(p+"ffn_down.weight", 16, 8)
			s.add(p+"ffn_down.bias", 8)
		default:
			s.add(p+"ffn_up.weight", 8, 16)
			s.add(p+"ffn_gate.weight", 8, 16)
			s.add(p+"ffn_down.weight", 16, 8)
		}
	}
	return s
}

func TestNomicLoads(t *testing.T) {
	for _, a := range []string{"nomic-bert", "nomic-bert-moe"} {
		m, h, err := Load(nomicSpec(a).file(t))
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if h.RopeType != RopeNeoX || h.Ropes[0].Base != 1000 || !h.Caches[0].Bidirectional || h.NormEps != 1e-12 {
			t.Errorf("%s: rope %v %+v, cache %+v, eps %g", a, h.RopeType, h.Ropes[0], h.Caches[0], h.NormEps)
		}
		n := m.(*nomicBert)
		if _, ok := m.(Encoder); !ok || n.TokenTypeEmbedding() == nil || n.PositionEmbedding() != nil {
			t.Errorf("%s: encoder %v, token types %v, positions %v", a, ok, n.TokenTypeEmbedding(), n.PositionEmbedding())
		}
		if a == "nomic-bert-moe" && (n.isMoE(0) || !n.isMoE(1) || n.experts != 4 || n.used != 2) {
			t.Errorf("moe layers %v %v, experts %d used %d", n.isMoE(0), n.isMoE(1), n.experts, n.used)
		}
	}
}

// TestNomicRejects: hostile or broken metadata and tensors are errors that
// name what is wrong, never a panic or a graph sized by an unchecked
// number.
func TestNomicRejects(t *testing.T) {
	for _, c := range []struct {
		arch string
		edit func(s *ggufSpec)
		want []string
	}{
		{"nomic-bert-moe", func(s *ggufSpec) { s.kv["expert_count"] = uint32(0) }, []string{"expert_count"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.kv["expert_count"] = uint32(1 << 20) }, []string{"expert_count"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.kv["expert_used_count"] = uint32(5) }, []string{"expert_used_count"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.kv["moe_every_n_layers"] = uint32(1000) }, []string{"moe_every_n_layers"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.drop("blk.1.ffn_up_exps.weight") }, []string{"layer 1", "ffn_up_exps"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.add("blk.1.ffn_down_exps.weight", 16, 8, 3) }, []string{"blk.1.ffn_down_exps.weight", "experts"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.add("blk.0.attn_qkv.bias", 16) }, []string{"blk.0.attn_qkv.bias"}},
		{"nomic-bert-moe", func(s *ggufSpec) { s.drop("blk.0.ffn_down.weight") }, []string{"layer 0", "ffn_down"}},
		{"nomic-bert", func(s *ggufSpec) { s.add("blk.1.attn_qkv.weight", 8, 20) }, []string{"blk.1.attn_qkv.weight", "24"}},
		{"nomic-bert", func(s *ggufSpec) { s.drop("blk.0.ffn_gate.weight") }, []string{"layer 0", "ffn_gate"}},
		{"nomic-bert", func(s *ggufSpec) { s.add("token_types.weight", 4, 2) }, []string{"token_types.weight"}},
		{"nomic-bert", func(s *ggufSpec) { s.kv["attention.causal"] = true }, []string{"causal"}},
	} {
		s := nomicSpec(c.arch)
		c.edit(s)
		wantErr(t, loadErr(t, s), c.want...)
	}
}
