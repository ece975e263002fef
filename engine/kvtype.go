package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"dayi/engine/arch"
	"dayi/kernels"
)

// KVTypes are the KV cache element types Options.KVType accepts, as
// llama.cpp's --cache-type-k/--cache-type-v names them.
var KVTypes = []string{"f16", "f32", "q8_0", "q4_0"}

// kvQuantOf maps a KVType name to its block type (0 for f16/f32).
func kvQuantOf(name string) kernels.KVQuant {
	switch name {
	case "q8_0":
		return kernels.KVQ8_0
	case "q4_0":
		return kernels.KVQ4_0
	}
	return 0
}

// checkKVQuant refuses a quantized cache where it cannot run: the blocks
// hold 32 values, so the head size must be a multiple of 32 (llama.cpp
// refuses the same models), gemma2's attention reads the cache with graph
// ops, and only dayi's backend has the quantized
// attention kernel and writes the cache through DynamicUpdateSlice.
func checkKVQuant(q kernels.KVQuant, h *arch.Hyper, portable bool, backend string) error {
	if q == 0 {
		return nil
	}
	if h.Arch == "gemma2" {
		// Its soft-capped attention is made of graph ops that read the cache
		// as values (arch/gemma2.go), not the fused kernel.
		return fmt.Errorf("KV cache type %s: not for gemma2's soft-capped attention; use f16 or f32", q)
	}
	if h.HeadDim%kernels.QK != 0 {
		return fmt.Errorf("KV cache type %s: the head size %d is not a multiple of %d", q, h.HeadDim, kernels.QK)
	}
	if portable {
		return fmt.Errorf("KV cache type %s needs dayi's backend, not %q", q, backend)
	}
	return nil
}

// kvRowBytes is the size of one cache row (one position) of layer l: its KV
// heads' values, or their quantized blocks.
func (m *Model) kvRowBytes(l int) int {
	h := m.Hyper
	if m.kvQuant != 0 {
		return h.KVHeads[l] * m.kvQuant.RowBytes(h.HeadDim)
	}
	return h.KVHeads[l] * h.HeadDim * m.kvDType.Size()
}

// kvShape is the shape of layer l's K (or V) cache buffer of S positions:
// [1, S, KVHeads, HeadDim] values, or [1, S, KVHeads, row bytes] of blocks
// (Uint8) for a quantized cache.
func (m *Model) kvShape(l, S int) shapes.Shape {
	h := m.Hyper
	if m.kvQuant != 0 {
		return shapes.Make(dtypes.Uint8, 1, S, h.KVHeads[l], m.kvQuant.RowBytes(h.HeadDim))
	}
	return shapes.Make(m.kvDType, 1, S, h.KVHeads[l], h.HeadDim)
}
