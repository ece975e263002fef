package engine

import (
	"fmt"
	"strings"

	"dayi/engine/arch"
	"dayi/weights"
)

// Footprint is the memory a model takes once loaded, estimated from its file
// before any of it is copied, so a server can refuse or make room for a load
// instead of running out of memory halfway through it.
type Footprint struct {
	Weights int64 // the weights the model computes with (a private copy per loaded model)
	KV      int64 // one session's KV cache for the context length
	Ctx     int   // the context length the KV cache is sized for
}

// Total is the weights plus one context's KV cache.
func (f Footprint) Total() int64 { return f.Weights + f.KV }

// EstimateFootprint says what Load(f, opt) would allocate. On dayi's backend
// the weights are a private copy of the file's tensor bytes (the mapped
// file's pages are given back after the copy); on portable backends they are
// dequantized to f32. The KV cache is per session (Model.KVBytes).
func EstimateFootprint(f *weights.File, opt Options) (Footprint, error) {
	a, h, err := arch.Load(f)
	if err != nil {
		return Footprint{}, fmt.Errorf("%s: %w", f.Path, err)
	}
	be := opt.Backend
	if be == "" {
		be = defaultBackend()
	}
	portable := !strings.HasPrefix(be, "dayi")
	var fp Footprint
	for _, w := range arch.Weights(a) {
		if portable {
			fp.Weights += w.Info.Elements() * 4
		} else {
			fp.Weights += w.Info.Size
		}
	}
	fp.Ctx = h.ContextLength
	if opt.ContextLength > 0 && opt.ContextLength < fp.Ctx {
		fp.Ctx = opt.ContextLength
	}
	per := int64(2) // f16, the default
	if portable || opt.KVType == "f32" {
		per = 4
	}
	for _, kv := range h.KVHeads {
		fp.KV += 2 * int64(kv) * int64(h.HeadDim) * int64(fp.Ctx) * per
	}
	return fp, nil
}
