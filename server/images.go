package server

import (
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
// 400 naming its field; its bytes are never quoted back.
func decodeImages(refs []imageRef) ([]image.Image, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	lim := imageLimits()
	out := make([]image.Image, 0, len(refs))
	for _, r := range refs {
		var img image.Image
		var err error
		if strings.HasPrefix(r.field, "messages[") && strings.HasSuffix(r.field, ".image_url") {
			img, err = imageio.DecodeDataURL(r.data, lim)
		} else {
			img, err = imageio.DecodeBase64(r.data, lim)
		}
		if err != nil {
			var le *imageio.LimitError
			if errors.As(err, &le) {
				return nil, fieldError(r.field, "%v (limit %q)", err, "images[]"+map[string]string{"pixels": ".pixels"}[le.Limit])
			}
			return nil, fieldError(r.field, "%v", err)
		}
		out = append(out, img)
	}
	return out, nil
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
