package kernels

import "dayi/weights"

// Quantization scheme numbers: how a weight's ggml type and Layout travel
// from the model graph (engine/arch, through graph.Quantization.Scheme, a
// GoMLX backends.QuantizationScheme) to the backend that runs it
// (engine/backend). Both import this package, which owns the numbers, so
// the two ends cannot drift apart.
const (
	// GGUFSchemeBase + ggml type id selects raw GGUF row blocks
	// (LayoutGGUF). It stays clear of GoMLX's own schemes (0, 1, ...).
	GGUFSchemeBase = 1000
	// Rows16SchemeBase + ggml type id selects GGUF blocks repacked by Repack
	// into 16-row groups (LayoutRows16; the types LayoutSupported lists).
	Rows16SchemeBase = 3000
)

// Scheme is the quantization scheme number of weights of type t in layout
// l (GGUFSchemeBase or Rows16SchemeBase plus t's ggml type id).
func Scheme(t weights.Type, l Layout) int {
	if l == LayoutRows16 {
		return Rows16SchemeBase + int(t)
	}
	return GGUFSchemeBase + int(t)
}

// ParseScheme is the inverse of Scheme: the type and layout of scheme s,
// and whether s is a GGUF scheme of a known type at all.
func ParseScheme(s int) (weights.Type, Layout, bool) {
	l, base := LayoutGGUF, GGUFSchemeBase
	if s >= Rows16SchemeBase {
		l, base = LayoutRows16, Rows16SchemeBase
	}
	if s < base {
		return 0, l, false
	}
	t := weights.Type(s - base)
	return t, l, t.Known()
}
