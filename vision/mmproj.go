// Package vision reads a llama.cpp-format vision projector (an "mmproj"
// GGUF: clip.* metadata, v.* and mm.* tensors) and turns an image into the
// soft-token embeddings a language model reads in place of an image: the
// SigLIP vision tower and Gemma 3's projector (MedGemma), as a GoMLX graph
// on the language model's backend, with the same weight kernels.
//
// The layout, preprocessing and numerics follow llama.cpp's libmtmd
// (tools/mtmd: clip.cpp, clip-impl.h, models/siglip.cpp, mtmd-image.cpp);
// the code is dayi's own.
package vision

import (
	"errors"
	"fmt"

	"dayi/weights"
)

// Hyper are the projector's hyper-parameters (clip.vision.* keys).
type Hyper struct {
	ProjectorType string // clip.projector_type; only "gemma3" runs
	ImageSize     int    // the square side images are resized to
	PatchSize     int
	Dim           int // vision embedding width
	FFN           int
	Layers        int
	Heads         int
	Eps           float32
	Mean, Std     [3]float32
	// Merge is the side of the average-pooling window (gemma3: 4, so a
	// 896-pixel image of 14-pixel patches gives 64×64 patches → 16×16 = 256
	// tokens; clip.vision.projector.scale_factor overrides it, as in
	// llama.cpp's test models).
	Merge   int
	TextDim int // the language model width the projection writes
}

// PatchesPerSide is ImageSize/PatchSize.
func (h *Hyper) PatchesPerSide() int { return h.ImageSize / h.PatchSize }

// Tokens is the number of soft tokens one image becomes.
func (h *Hyper) Tokens() int {
	s := h.PatchesPerSide() / h.Merge
	return s * s
}

// Bounds on what a file may declare, so that a hostile header cannot make
// the loader allocate without limit (the real MedGemma mmproj: 896 pixels,
// patch 14, 1152 wide, 4304 FFN, 27 layers, 16 heads).
const (
	maxImageSize = 4096
	maxDim       = 16384
	maxLayers    = 256
	maxPatches   = 1 << 16
)

// ErrNotProjector is returned for a GGUF that is not a vision projector.
var ErrNotProjector = errors.New("not a vision projector (want a llama.cpp mmproj GGUF: general.architecture clip with a vision encoder)")

// ReadHyper reads and checks the hyper-parameters of an mmproj file.
func ReadHyper(f *weights.File) (*Hyper, error) {
	if f.Arch() != "clip" {
		return nil, fmt.Errorf("%s: general.architecture %q: %w", f.Path, f.Arch(), ErrNotProjector)
	}
	if f.Has("clip.has_vision_encoder") && !f.Bool("clip.has_vision_encoder", false) {
		return nil, fmt.Errorf("%s: clip.has_vision_encoder is false: %w", f.Path, ErrNotProjector)
	}
	h := &Hyper{ProjectorType: f.String("clip.projector_type", f.String("clip.vision.projector_type", ""))}
	if h.ProjectorType != "gemma3" {
		return nil, fmt.Errorf("%s: clip.projector_type %q: only gemma3 projectors (MedGemma, Gemma 3) are supported", f.Path, h.ProjectorType)
	}
	req := func(key string, lo, hi int64, dst *int) error {
		if !f.Has(key) {
			return fmt.Errorf("%s: missing %s", f.Path, key)
		}
		v := f.Int(key, -1)
		if v < lo || v > hi {
			return fmt.Errorf("%s: %s = %d, want %d..%d", f.Path, key, v, lo, hi)
		}
		*dst = int(v)
		return nil
	}
	for _, k := range []struct {
		key    string
		lo, hi int64
		dst    *int
	}{
		{"clip.vision.image_size", 1, maxImageSize, &h.ImageSize},
		{"clip.vision.patch_size", 1, maxImageSize, &h.PatchSize},
		{"clip.vision.embedding_length", 1, maxDim, &h.Dim},
		{"clip.vision.feed_forward_length", 1, 4 * maxDim, &h.FFN},
		{"clip.vision.block_count", 1, maxLayers, &h.Layers},
		{"clip.vision.attention.head_count", 1, maxDim, &h.Heads},
	} {
		if err := req(k.key, k.lo, k.hi, k.dst); err != nil {
			return nil, err
		}
	}
	if !f.Has("clip.vision.attention.layer_norm_epsilon") {
		return nil, fmt.Errorf("%s: missing clip.vision.attention.layer_norm_epsilon", f.Path)
	}
	h.Eps = float32(f.Float("clip.vision.attention.layer_norm_epsilon", 1e-6))
	mean, std := f.Float32s("clip.vision.image_mean"), f.Float32s("clip.vision.image_std")
	if len(mean) < 3 || len(std) < 3 {
		return nil, fmt.Errorf("%s: clip.vision.image_mean/image_std need 3 values, have %d and %d", f.Path, len(mean), len(std))
	}
	copy(h.Mean[:], mean)
	copy(h.Std[:], std)
	for _, s := range h.Std {
		if !(s > 0) {
			return nil, fmt.Errorf("%s: clip.vision.image_std %v: want positive values", f.Path, std[:3])
		}
	}
	// llama.cpp clip.cpp (PROJECTOR_TYPE_GEMMA3): n_merge 4 unless the
	// file names another.
	h.Merge = int(f.Int("clip.vision.projector.scale_factor", 4))
	if h.Dim%h.Heads != 0 {
		return nil, fmt.Errorf("%s: embedding length %d is not a multiple of the %d heads", f.Path, h.Dim, h.Heads)
	}
	if h.ImageSize%h.PatchSize != 0 {
		return nil, fmt.Errorf("%s: image size %d is not a multiple of the patch size %d", f.Path, h.ImageSize, h.PatchSize)
	}
	if n := h.PatchesPerSide(); n*n > maxPatches || h.Merge < 1 || n%h.Merge != 0 {
		return nil, fmt.Errorf("%s: %d×%d patches cannot be pooled by %d", f.Path, n, n, h.Merge)
	}
	t, ok := f.Tensor("mm.input_projection.weight")
	if !ok || len(t.Dims) != 2 {
		return nil, fmt.Errorf("%s: missing 2-D tensor mm.input_projection.weight", f.Path)
	}
	h.TextDim = int(t.Dims[0])
	return h, nil
}
