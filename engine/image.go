package engine

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"

	"dayi/engine/chat"
	"dayi/vision"
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

// ErrImagePrompt is wrapped by every refusal of a request's images that is
// the caller's to fix (a marker count that differs from the image count,
// images with pre-tokenized input, an image that cannot be preprocessed):
// servers answer it with 400.
var ErrImagePrompt = errors.New("image prompt")

// imageReader is implemented by the architectures whose models read a
// vision projector's soft tokens (arch gemma3).
type imageReader interface{ AcceptsImages() bool }

// Image tokens of gemma3, as libmtmd wraps each image (mtmd.cpp,
// PROJECTOR_TYPE_GEMMA3: img_beg/img_end), tokenized with special tokens
// parsed.
const (
	gemma3ImageBegin = "<start_of_image>"
	gemma3ImageEnd   = "<end_of_image>"
)

// AttachProjector pairs the language model with a vision projector read
// from a llama.cpp-format mmproj GGUF (clip.* metadata, v.*/mm.* tensors).
// Until a projector is attached, requests with images fail with ErrNoVision.
// Call it before the model serves requests; f must outlive the LM.
func (lm *LM) AttachProjector(f *weights.File) error {
	if lm.enc != nil {
		return fmt.Errorf("%s: %s is an embedding model; vision projectors pair with generative gemma3 models", f.Path, lm.Hyper.Arch)
	}
	if r, ok := lm.arch.(imageReader); !ok || !r.AcceptsImages() {
		return fmt.Errorf("%s: the model's architecture %s does not read images (vision projectors pair with gemma3 models such as MedGemma)", f.Path, lm.Hyper.Arch)
	}
	enc, err := vision.New(f, lm.backend, &lm.execMu)
	if err != nil {
		return err
	}
	if enc.H.TextDim != lm.Hyper.Dim {
		return fmt.Errorf("%s: the projector writes %d-wide embeddings but the model is %d wide (an mmproj of another model?)", f.Path, enc.H.TextDim, lm.Hyper.Dim)
	}
	lm.proj = enc
	return nil
}

// HasVision reports whether a vision projector is attached.
func (lm *LM) HasVision() bool { return lm.proj != nil }

// checkImages refuses images the model cannot read.
func (lm *LM) checkImages(imgs []image.Image) error {
	if len(imgs) > 0 && !lm.HasVision() {
		return ErrNoVision
	}
	for i, img := range imgs {
		if img == nil {
			return fmt.Errorf("%w: image %d is missing", ErrImagePrompt, i+1)
		}
	}
	return nil
}

// mediaPrompt is a prompt with images, split as libmtmd splits it
// (mtmd_tokenize): text chunks evaluated as tokens, image chunks as the
// projector's embeddings.
type mediaPrompt struct {
	// ids has one entry per position: the text tokens, and -1 where an
	// image's soft tokens go (they have no id).
	ids   []int32
	parts []mediaPart
}

type mediaPart struct {
	ids []int32 // a text chunk's tokens
	img int     // an image chunk: the index in Request.Images; -1 for text
}

// imagePrompt tokenizes req's prompt around its image markers exactly as
// libmtmd does for gemma3: the text between markers tokenized on its own
// (no BOS), <start_of_image> before and <end_of_image> after each image,
// BOS in front when the vocabulary adds it (and EOS at the end when it adds
// that). The images are not encoded yet (prefillMedia does, one by one).
func (lm *LM) imagePrompt(req *Request) (*mediaPrompt, *chat.Template, error) {
	var text string
	var tmpl *chat.Template
	parseSpecial := req.ParseSpecial
	switch {
	case req.Tokens != nil:
		return nil, nil, fmt.Errorf("%w: images need a text prompt with one %s marker per image, not token ids", ErrImagePrompt, ImageMarker)
	case req.Messages != nil:
		tmpl = lm.Template
		if req.Template != "" {
			t, err := chat.ByName(req.Template)
			if err != nil {
				return nil, nil, err
			}
			tmpl = &t
		}
		if tmpl == nil {
			return nil, nil, fmt.Errorf("model has no chat template; name one (%v)", chat.Names())
		}
		var err error
		if text, err = tmpl.Render(req.Messages, true); err != nil {
			return nil, nil, err
		}
		parseSpecial = true
	default:
		text = req.Prompt
	}
	segs := strings.Split(text, ImageMarker)
	if len(segs)-1 != len(req.Images) {
		return nil, nil, fmt.Errorf("%w: %d images but %d %s markers in the prompt", ErrImagePrompt, len(req.Images), len(segs)-1, ImageMarker)
	}
	n := lm.proj.H.Tokens()
	mp := &mediaPrompt{}
	tok := lm.Tok
	var cur []int32
	if tok.AddBOS() && tok.BOS() >= 0 {
		cur = append(cur, tok.BOS())
	}
	flush := func() {
		if len(cur) > 0 {
			mp.parts = append(mp.parts, mediaPart{ids: cur, img: -1})
			mp.ids = append(mp.ids, cur...)
			cur = nil
		}
	}
	for i, s := range segs {
		cur = append(cur, tok.Encode(s, false, parseSpecial)...)
		if i == len(segs)-1 {
			break
		}
		cur = append(cur, tok.Encode(gemma3ImageBegin, false, true)...)
		flush()
		mp.parts = append(mp.parts, mediaPart{img: i})
		for range n {
			mp.ids = append(mp.ids, -1)
		}
		cur = append(cur, tok.Encode(gemma3ImageEnd, false, true)...)
	}
	if tok.AddEOS() && tok.EOS() >= 0 {
		cur = append(cur, tok.EOS())
	}
	flush()
	return mp, tmpl, nil
}

// prefillMedia evaluates a prompt with images chunk by chunk: text as
// tokens, each image encoded by the projector and evaluated as one step of
// embeddings that attend to each other both ways (libmtmd decodes gemma3
// image chunks with non-causal attention: mtmd_decode_use_non_causal;
// sliding-window layers still apply their window).
func (g *generation) prefillMedia(ctx context.Context, mp *mediaPrompt) error {
	for _, p := range mp.parts {
		if p.img < 0 {
			if _, err := g.sess.Eval(ctx, p.ids); err != nil {
				return err
			}
			continue
		}
		embd, err := g.lm.proj.Encode(ctx, g.req.Images[p.img])
		if err != nil {
			return fmt.Errorf("%w: image %d: %w", ErrImagePrompt, p.img+1, err)
		}
		if _, err := g.sess.EvalEmbeddings(ctx, embd, true); err != nil {
			return err
		}
	}
	return nil
}

// EncodeImage runs the attached projector on img: its soft tokens,
// [tokens, dim] row-major.
func (lm *LM) EncodeImage(ctx context.Context, img image.Image) ([]float32, error) {
	if lm.proj == nil {
		return nil, ErrNoVision
	}
	return lm.proj.Encode(ctx, img)
}

// EvalEmbeddings feeds rows of input embeddings (embd: [n, dim] row-major,
// e.g. EncodeImage's) at the current position in one step and returns the
// logits after the last. With nonCausal every row sees every other row of
// the step, later ones too (sliding-window layers keep their window).
func (s *Session) EvalEmbeddings(ctx context.Context, embd []float32, nonCausal bool) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := s.m
	dim := m.Hyper.Dim
	if len(embd) == 0 || len(embd)%dim != 0 {
		return nil, fmt.Errorf("eval embeddings: %d values is not a whole number of %d-wide rows", len(embd), dim)
	}
	if m.enc != nil {
		return nil, fmt.Errorf("eval embeddings: %s is an embedding model", m.Hyper.Arch)
	}
	n := len(embd) / dim
	if s.pos+n > m.Ctx {
		return nil, fmt.Errorf("%w: %d embeddings at position %d exceed the context length %d", ErrContextFull, n, s.pos, m.Ctx)
	}
	// One step holds them all, so that they can see each other: the
	// smallest bucket that does, else a step of exactly n rows.
	T := n
	for _, b := range m.buckets {
		if b >= n && b <= m.Ctx-s.pos {
			T = b
			break
		}
	}
	s.scratch.embd, s.scratch.nonCausal = embd, nonCausal
	defer func() { s.scratch.embd, s.scratch.nonCausal = nil, false }()
	if err := s.step(make([]int32, n), graphKey{T: T, embd: true}); err != nil {
		return nil, err
	}
	return s.logits, nil
}

// fillMaskNonCausal is fillMask for a step of n embeddings at pos that
// see each other both ways: row i (position pos+i) sees every key before
// pos+n, except, with a window, keys at least window positions behind it
// (llama.cpp's kv-cache mask with causal_attn off, LLAMA_NON_CAUSAL_TYPE_ALL:
// future cells unmasked, is_masked_swa still applied).
func fillMaskNonCausal(mask []bool, T, S, pos, n, window int) {
	for i := 0; i < T; i++ {
		q := pos + i
		row := mask[i*S : (i+1)*S]
		for j := range row {
			row[j] = j < pos+n && (window <= 0 || q-j < window)
		}
	}
}
