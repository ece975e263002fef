package weights

// RopeScaling is a model's rope scaling as its GGUF metadata states it
// (<arch>.rope.scaling.*), for `dayi info` and scripts; the engine's
// arch.Rope is what is computed from it.
type RopeScaling struct {
	Type                  string  `json:"type"` // linear or yarn
	Factor                float64 `json:"factor"`
	OriginalContextLength uint64  `json:"original_context_length,omitempty"`
	AttnFactor            float64 `json:"attn_factor,omitempty"`
}

// ropeScaling reads the scaling keys as llama.cpp does (the type defaults to
// linear, the factor to the old rope.scale_linear key); nil when the model
// states none, or a factor of 0 or 1 without YaRN.
func ropeScaling(f *File) *RopeScaling {
	typ := f.String(f.ArchKey("rope.scaling.type"), "linear")
	fac := f.Float(f.ArchKey("rope.scaling.factor"), f.Float(f.ArchKey("rope.scale_linear"), 0))
	if typ == "none" || typ == "" || typ == "linear" && (fac == 0 || fac == 1) {
		return nil
	}
	r := &RopeScaling{Type: typ, Factor: fac, AttnFactor: f.Float(f.ArchKey("rope.scaling.attn_factor"), 0)}
	if typ == "yarn" {
		r.OriginalContextLength = f.Uint(f.ArchKey("rope.scaling.original_context_length"), f.Uint(f.ArchKey("context_length"), 0))
	}
	return r
}
