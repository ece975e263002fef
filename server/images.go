package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"strings"
	"sync"

	"dayi/engine"
	"dayi/imageio"
)

// Images arrive as Ollama's base64 strings (/api/generate's images, each
// /api/chat message's images) or OpenAI's image_url content parts with
// data: URLs. Parsing only counts them and places one engine.ImageMarker
// where each belongs; they are decoded in run, after admission, so that
// at most MaxActive requests hold decoded pixels at once.

// imageRef is one image of a job, not yet decoded.
type imageRef struct {
	field string // what errors name: "images[0]", "messages[2].content[1].image_url"
	data  string // base64, or a data: URL
}

// imageLimits are the limits table's image rows.
func imageLimits() imageio.Limits {
	return imageio.Limits{MaxBytes: int(lim("images[]").Max), MaxPixels: int64(lim("images[].pixels").Max), MaxImages: int(lim("images").Max)}
}

// checkImageCount refuses more images than a request may carry, before any
// is decoded.
func checkImageCount(openai bool, n int) error {
	return lim("images").count(openai, n)
}

// imgPlaceholder is Ollama's way for a client to place an image inside a
// message's text (server/prompt.go chatPrompt: each "[img]" in order
// becomes the next image's tag; images without one go before the text).
const imgPlaceholder = "[img]"

// PlaceImages puts n image markers (engine.ImageMarker) into text: where the client wrote
// markers itself (llama.cpp's server convention, one per image), there;
// else at its [img] placeholders in order, and the rest before the text,
// as Ollama does for gemma3. A marker in text that carries no image, or a
// count that differs from n, is refused: a marker the client typed would
// otherwise take the place of another image.
func PlaceImages(field, text string, n int) (string, error) {
	k := strings.Count(text, engine.ImageMarker)
	switch {
	case k == n:
		return text, nil
	case k != 0:
		return "", fieldError(field, "holds %d image markers %s for %d images", k, engine.ImageMarker, n)
	}
	var prefix strings.Builder
	for i := 0; i < n; i++ {
		if strings.Contains(text, imgPlaceholder) {
			text = strings.Replace(text, imgPlaceholder, engine.ImageMarker, 1)
		} else {
			prefix.WriteString(engine.ImageMarker)
		}
	}
	return prefix.String() + text, nil
}

// ollamaImages reads an images array of base64 strings.
func ollamaImages(field string, raws []json.RawMessage) ([]imageRef, error) {
	refs := make([]imageRef, 0, len(raws))
	for i, raw := range raws {
		f := fmt.Sprintf("%s[%d]", field, i)
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fieldError(f, "must be a base64 string")
		}
		if s == "" {
			return nil, fieldError(f, "is empty")
		}
		refs = append(refs, imageRef{field: f, data: s})
	}
	return refs, nil
}

// decodeImages decodes a job's images. A corrupt or oversized image is a
// 400 naming its field; its bytes are never quoted back. The decoded
// memory of all of them, read from their headers first, is reserved from
// the server's budget (s.pixels) before any is decoded, and held until
// release: admission alone bounded it by --max-active × a request's worst
// case (16 × 8 images × 4096² pixels × 8 bytes = 16 GiB from a few
// hundred KB of flat 16-bit PNGs).
func (s *Server) decodeImages(ctx context.Context, refs []imageRef) ([]image.Image, func(), error) {
	if len(refs) == 0 {
		return nil, func() {}, nil
	}
	lim := imageLimits()
	data := make([][]byte, len(refs))
	var need int64
	for i, r := range refs {
		var err error
		if data[i], err = imageio.Bytes(r.data, lim); err != nil {
			return nil, nil, imageErr(r.field, err)
		}
		n, err := imageio.Pixels(data[i], lim)
		if err != nil {
			return nil, nil, imageErr(r.field, err)
		}
		need += n * maxBytesPerPixel
	}
	release, err := s.pixels.acquire(ctx, need)
	if err != nil {
		return nil, nil, err
	}
	out := make([]image.Image, 0, len(refs))
	for i, r := range refs {
		img, err := imageio.Decode(data[i], lim)
		if err != nil {
			release()
			return nil, nil, imageErr(r.field, err)
		}
		data[i] = nil // the encoded bytes can go while the rest decode
		out = append(out, img)
	}
	return out, release, nil
}

// imageErr is the 400 for one image, naming its field and the limit.
func imageErr(field string, err error) error {
	var le *imageio.LimitError
	if errors.As(err, &le) {
		return fieldError(field, "%v (limit %q)", err, "images[]"+map[string]string{"pixels": ".pixels"}[le.Limit])
	}
	return fieldError(field, "%v", err)
}

// maxBytesPerPixel is the widest pixel the decoders make (16-bit RGBA:
// image.RGBA64/NRGBA64); budgeting every image at it keeps the budget an
// upper bound whatever the format.
const maxBytesPerPixel = 8

// maxDecodedImageBytes is the server's budget of decoded image memory:
// one request at the image limits' worst case (8 images of 4096×4096 at 8
// bytes a pixel, 1 GiB), so every acceptable request can run, or many
// requests with ordinary images (a 2048×2048 radiograph reserves 32 MiB)
// at once. Requests past it wait (their context bounds the wait).
const maxDecodedImageBytes = 8 * 4096 * 4096 * maxBytesPerPixel

// byteBudget is a counting budget of bytes whose acquirers wait, without
// a queue: a request reserves all it needs at once, so two requests never
// hold part of what each other waits for.
type byteBudget struct {
	mu   sync.Mutex
	max  int64
	used int64
	wake chan struct{} // closed (and replaced) whenever bytes are released
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, wake: make(chan struct{})}
}

// acquire reserves n bytes, waiting for them while ctx lasts, and returns
// the function that gives them back (once).
func (b *byteBudget) acquire(ctx context.Context, n int64) (func(), error) {
	if n > b.max {
		return nil, fieldError("images", "the images decode to %d bytes, more than the server's %d for images in flight", n, b.max)
	}
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					b.mu.Lock()
					b.used -= n
					close(b.wake)
					b.wake = make(chan struct{})
					b.mu.Unlock()
				})
			}, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// inUse reports the bytes reserved now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// noVision is the 400 for images sent to a model without a projector.
func noVision(model string) error {
	return &reqError{status: http.StatusBadRequest, param: "images", msg: fmt.Sprintf("model %q: %v", model, engine.ErrNoVision)}
}

// oaPart is one OpenAI content part.
type oaPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

// oaImageURL reads an image_url part's URL: {"url": "…", "detail": …}, or
// a bare string as some clients send.
func oaImageURL(raw json.RawMessage, field string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		URL json.RawMessage `json:"url"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj.URL) == 0 {
		return "", fieldError(field, "must be an object {\"url\": \"data:image/…;base64,…\"}")
	}
	if err := json.Unmarshal(obj.URL, &s); err != nil {
		return "", fieldError(field+".url", "must be a string")
	}
	return s, nil
}

// oaContentImages flattens a message content: a string, or an array of
// text and image_url parts, each image replaced by a marker in place.
func oaContentImages(raw json.RawMessage, i int) (string, []imageRef, error) {
	field := fmt.Sprintf("messages[%d].content", i)
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return "", nil, nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		text, err := PlaceImages(field, str, 0)
		return text, nil, err
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", nil, fieldError(field, "must be a string or an array of content parts")
	}
	if err := lim("messages[].content[]").count(true, len(parts)); err != nil {
		return "", nil, fieldError(field, "%d content parts; allowed %s", len(parts), lim("messages[].content[]").rangeText())
	}
	var b strings.Builder
	var refs []imageRef
	for k, pr := range parts {
		pf := fmt.Sprintf("%s[%d]", field, k)
		var p oaPart
		if err := json.Unmarshal(pr, &p); err != nil {
			return "", nil, fieldError(pf, "must be an object {\"type\": \"text\" or \"image_url\", …}")
		}
		switch p.Type {
		case "text":
			if p.Text == nil {
				return "", nil, fieldError(pf+".text", "required (a string)")
			}
			if strings.Contains(*p.Text, engine.ImageMarker) {
				return "", nil, fieldError(pf+".text", "holds the image marker %s: send images as image_url parts", engine.ImageMarker)
			}
			b.WriteString(*p.Text)
		case "image_url":
			uf := pf + ".image_url"
			if len(p.ImageURL) == 0 {
				return "", nil, fieldError(uf, "required")
			}
			u, err := oaImageURL(p.ImageURL, uf)
			if err != nil {
				return "", nil, err
			}
			if !strings.HasPrefix(strings.ToLower(u), "data:") {
				_, err := imageio.DecodeDataURL(u, imageLimits()) // only its scheme is read: ErrScheme
				return "", nil, fieldError(uf, "%v", err)
			}
			b.WriteString(engine.ImageMarker)
			refs = append(refs, imageRef{field: uf, data: u})
		default:
			return "", nil, fieldError(pf+".type", "%.32q is not supported (text or image_url)", p.Type)
		}
	}
	return b.String(), refs, nil
}

// cacheScope is a request's prefix-cache scope (engine.Request.CacheScope):
// the API key, and with images a digest of them. The prefix cache matches
// token ids only, and an image's soft tokens are the same placeholder ids
// whatever the image shows, so two requests with the same text and
// different images would otherwise share the KV rows computed from the
// first one's pixels: the second patient's radiograph answered from the
// first's. The digest is of the images as sent (length-prefixed, in
// order): equal strings decode to equal pixels, so requests that repeat
// the same images (a chat's next turn) still share their prefix.
func cacheScope(keyID string, refs []imageRef) string {
	if len(refs) == 0 {
		return keyID
	}
	h := sha256.New()
	var n [8]byte
	for _, r := range refs {
		binary.LittleEndian.PutUint64(n[:], uint64(len(r.data)))
		h.Write(n[:])
		io.WriteString(h, r.data)
	}
	return keyID + "\x00images:" + hex.EncodeToString(h.Sum(nil))
}

// textOnly refuses an image field on a route whose models read text only
// (embeddings, rerank): ignoring it would answer for the text alone as if
// the image had been read.
func textOnly(field string, raw json.RawMessage) error {
	if t := strings.TrimSpace(string(raw)); t == "" || t == "null" || t == "[]" {
		return nil
	}
	return fieldError(field, "not accepted here: embedding and reranker models read text only (send images to /api/chat, /api/generate or /v1/chat/completions with a vision model)")
}
