package engine

import (
	"errors"
	"image"

	"dayi/weights"
)

// ImageMarker stands for one image in a request's prompt text: the server
// (or `dayi run --image`) puts one marker where each image belongs, in the
// order of Request.Images, and the model replaces each marker with that
// image's soft tokens (for gemma3: <start_of_image>, the projected patch
// embeddings, <end_of_image>). The spelling is libmtmd's default media
// marker (llama.cpp tools/mtmd/mtmd.cpp mtmd_default_marker), so prompts
// written for llama.cpp's server work unchanged.
const ImageMarker = "<__media__>"

// ErrNoVision is returned for a request with images on a model that has no
// vision projector attached.
var ErrNoVision = errors.New("model has no vision projector (pass --mmproj, or place mmproj-*.gguf beside the model)")

// AttachProjector pairs the language model with a vision projector read
// from a llama.cpp-format mmproj GGUF (clip.* metadata, v.*/mm.* tensors).
// Until a projector is attached, requests with images fail with ErrNoVision.
func (lm *LM) AttachProjector(f *weights.File) error {
	return errors.New("vision projectors are not supported yet")
}

// HasVision reports whether a vision projector is attached.
func (lm *LM) HasVision() bool { return false }

// checkImages refuses images the model cannot read.
func (lm *LM) checkImages(imgs []image.Image) error {
	if len(imgs) > 0 && !lm.HasVision() {
		return ErrNoVision
	}
	return nil
}
