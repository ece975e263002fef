package arch

import "dayi/weights"

// qwen2 (HuatuoGPT-o1-7B, Baichuan-M2, Apollo2) and qwen3 (II-Medical-8B) are
// the llama block with NeoX-order rotary; qwen2 adds Q/K/V biases, qwen3 adds
// per-head RMS norms on Q and K (llama.cpp src/models/qwen2.cpp, qwen3.cpp).
// They share llama's tensor declaration and forward pass; what differs is
// which optional tensors must be present.

func qwen2Hyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNeoX
	return h, nil
}

func newQwen2(_ *weights.File, h *Hyper) (Model, error) {
	return &qwen2{llama{h: h, Blocks: make([]llamaBlock, h.Layers)}}, nil
}

type qwen2 struct{ llama }

func (m *qwen2) check() error {
	for l := range m.Blocks {
		b := &m.Blocks[l]
		if b.QBias == nil || b.KBias == nil || b.VBias == nil {
			return errMissing(l, "attn_q/k/v.bias")
		}
	}
	return m.llama.check()
}

func qwen3Hyper(f *weights.File) (*Hyper, error) { return qwen2Hyper(f) }

func newQwen3(_ *weights.File, h *Hyper) (Model, error) {
	return &qwen3{llama{h: h, Blocks: make([]llamaBlock, h.Layers)}}, nil
}

type qwen3 struct{ llama }

func (m *qwen3) check() error {
	for l := range m.Blocks {
		b := &m.Blocks[l]
		if b.QNorm == nil || b.KNorm == nil {
			return errMissing(l, "attn_q_norm/attn_k_norm.weight")
		}
	}
	return m.llama.check()
}
