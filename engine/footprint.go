package engine

import (
	"fmt"
	"strings"

	"dayi/engine/arch"
	"dayi/kernels"
	"dayi/weights"
)

// Footprint is the memory a model takes once loaded, estimated from its file
// before any of it is copied, so a server can refuse or make room for a load
// instead of running out of memory halfway through it.
type Footprint struct {
	Weights int64 // the weights the model computes with (a private copy per loaded model)
	Mapped  bool  // the weights are too large to copy and run from the mapped file (not counted)
	KV      int64 // one session's KV cache for the context length
	Ctx     int   // the context length the KV cache is sized for
	// PrefixCache is the prefix cache's budget (Options.PrefixCacheBytes),
	// reserved whole: its entries grow into it as requests finish.
	PrefixCache int64
}

// Total is the weights, one context's KV cache and the prefix cache budget.
func (f Footprint) Total() int64 { return f.Weights + f.KV + f.PrefixCache }

// EstimateFootprint says what Load(f, opt) would allocate, following the
// same rules: on dayi's backend privateWeights copies every graph weight
// but a token embedding that is not also the output projection (its rows
// are read from the file), 64-byte aligned, unless that copy would exceed
// 80 % of the available memory, when the weights run from the mapped file
// (page cache the kernel can reclaim, not counted). Portable backends hold
// every weight dequantized to f32. The KV cache is per session
// (Model.KVBytes).
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
	emb := a.TokenEmbedding().Info
	_, out := a.OutputWeights()
	seen := map[*weights.TensorInfo]bool{}
	for _, w := range arch.Weights(a) {
		info := w.Info
		if seen[info] {
			continue
		}
		seen[info] = true
		switch {
		case portable:
			fp.Weights += info.Elements() * 4
		case info == emb && (out == nil || out.Info != emb):
			// read row by row from the file
		default:
			fp.Weights += (info.Size + 63) &^ 63
		}
	}
	if avail := memAvailable(); !portable && avail > 0 && fp.Weights > avail*4/5 {
		fp.Weights, fp.Mapped = 0, true
	}
	fp.Ctx = h.ContextLength
	if opt.ContextLength > 0 && (opt.ContextLength <= h.MaxContext() || opt.OverTrainedContext) { // Load refuses longer ones otherwise
		fp.Ctx = opt.ContextLength
	}
	per := int64(2) // f16, the default
	if portable || opt.KVType == "f32" {
		per = 4
	}
	// The engine's backends (dayi's, simplego) expose their buffers, so
	// compact sliding-window caches apply as Load decides them (swa.go).
	swa, _ := compactSWA(h, fp.Ctx, bucketsOf(opt), true, opt)
	for l, kv := range h.KVHeads {
		rows := int64(fp.Ctx)
		if sw := swa[h.Kinds[l].Cache]; sw > 0 {
			rows = int64(sw)
		}
		row := int64(kv) * int64(h.HeadDim) * per
		if q := kvQuantOf(opt.KVType); q != 0 && !portable && h.HeadDim%kernels.QK == 0 {
			row = int64(kv) * int64(q.RowBytes(h.HeadDim))
		}
		fp.KV += 2 * row * rows
	}
	fp.PrefixCache = prefixBudget(opt, fp.KV)
	return fp, nil
}
