package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"dayi/engine"
	"dayi/imageio"
	"dayi/imageio/dcmtest"
)

// tinyPNG is a 3×2 PNG, base64-encoded as Ollama clients send images.
var tinyPNG = func() string {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}()

// pngBombB64 declares 100000×100000 pixels in a few dozen bytes.
func pngBombB64() string {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(append(b, typ...), data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 100000), 100000)
	b := append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", append(ihdr, 8, 6, 0, 0, 0))...)
	b = append(b, chunk("IEND", nil)...)
	return base64.StdEncoding.EncodeToString(b)
}

func dataURL(b64 string) string { return "data:image/png;base64," + b64 }

// The server's limits are imageio's defaults (dayi run reads files with
// the same ones).
func TestImageLimitsMatchImageio(t *testing.T) {
	if got, want := imageLimits(), imageio.DefaultLimits(); got != want {
		t.Fatalf("server image limits %+v, imageio's defaults %+v", got, want)
	}
}

func TestPlaceImages(t *testing.T) {
	m := engine.ImageMarker
	for _, tc := range []struct {
		text string
		n    int
		want string
	}{
		{"what is this?", 0, "what is this?"},
		{"what is this?", 1, m + "what is this?"}, // Ollama: images before the text
		{"compare", 2, m + m + "compare"},
		{"before [img] after", 1, "before " + m + " after"}, // Ollama's [img] placeholder
		{"[img] vs [img]", 2, m + " vs " + m},
		{"[img] vs", 2, m + m + " vs"},
		{"x " + m + " y", 1, "x " + m + " y"}, // the client placed it (llama.cpp's convention)
	} {
		got, err := PlaceImages("prompt", tc.text, tc.n)
		if err != nil || got != tc.want {
			t.Errorf("PlaceImages(%q, %d) = %q, %v; want %q", tc.text, tc.n, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		text string
		n    int
	}{{m, 0}, {m + m, 1}, {"a" + m, 2}} {
		if _, err := PlaceImages("prompt", tc.text, tc.n); err == nil || !strings.HasPrefix(err.Error(), "prompt:") {
			t.Errorf("PlaceImages(%q, %d): err = %v, want a 400 naming prompt", tc.text, tc.n, err)
		}
	}
}

// The parsers put one marker per image where it belongs and keep the
// images in marker order, with the field each error would name.
func TestImagePlumbing(t *testing.T) {
	m := engine.ImageMarker
	j, err := parseChat(&chatRequest{Model: "x", Messages: []chatMessage{
		{Role: "user", Content: "first", Images: []json.RawMessage{json.RawMessage(`"` + tinyPNG + `"`)}},
		{Role: "assistant", Content: "ok"},
		{Role: "user", Content: "a [img] b", Images: []json.RawMessage{json.RawMessage(`"A"`), json.RawMessage(`"B"`)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{j.messages[0].Content, j.messages[1].Content, j.messages[2].Content}; got[0] != m+"first" || got[1] != "ok" || got[2] != m+"a "+m+" b" {
		t.Fatalf("chat contents %q", got)
	}
	if len(j.images) != 3 || j.images[0].field != "messages[0].images[0]" || j.images[2].field != "messages[2].images[1]" || j.images[2].data != "B" {
		t.Fatalf("chat images %+v", j.images)
	}

	j, err = parseGenerate(&generateRequest{Model: "x", Prompt: "describe", Images: []json.RawMessage{json.RawMessage(`"` + tinyPNG + `"`)}})
	if err != nil || j.prompt != m+"describe" || len(j.images) != 1 || j.images[0].field != "images[0]" {
		t.Fatalf("generate: %v %q %+v", err, j.prompt, j.images)
	}

	var oa oaChatRequest
	if err := json.Unmarshal([]byte(`{"model":"x","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[
		{"type":"text","text":"left: "},{"type":"image_url","image_url":{"url":"`+dataURL(tinyPNG)+`","detail":"high"}},
		{"type":"text","text":" right: "},{"type":"image_url","image_url":"`+dataURL(tinyPNG)+`"},{"type":"text","text":" which?"}]}]}`), &oa); err != nil {
		t.Fatal(err)
	}
	j, err = parseOAChat(&oa)
	if err != nil {
		t.Fatal(err)
	}
	if j.messages[1].Content != "left: "+m+" right: "+m+" which?" || len(j.images) != 2 || j.images[1].field != "messages[1].content[3].image_url" {
		t.Fatalf("OpenAI: %q %+v", j.messages[1].Content, j.images)
	}
	imgs, release, err := (&Server{pixels: newByteBudget(maxDecodedImageBytes)}).decodeImages(context.Background(), j.images)
	if err == nil {
		defer release()
	}
	if err != nil || len(imgs) != 2 || imgs[0].Bounds().Dx() != 3 || imgs[0].Bounds().Dy() != 2 {
		t.Fatalf("decode: %v %d", err, len(imgs))
	}
	if r, g, _, _ := imgs[1].At(1, 1).RGBA(); r>>8 != 200 || g>>8 != 10 {
		t.Fatalf("decoded pixel %v", imgs[1].At(1, 1))
	}
}

type errBody struct {
	Error json.RawMessage `json:"error"`
}

// errText returns the error message of an Ollama or OpenAI error body.
func errText(t *testing.T, body []byte) string {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not a JSON error: %.200s", body)
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil {
		return s
	}
	var oe struct {
		Message string `json:"message"`
	}
	json.Unmarshal(e.Error, &oe)
	return oe.Message
}

// A valid image sent to a model without a vision projector is a 400 with
// ErrNoVision's text, on every route, and the server keeps serving.
func TestImagesWithoutProjector(t *testing.T) {
	_, hs := testServer(t, Config{})
	for path, body := range map[string]any{
		"/api/generate": map[string]any{"model": "dayi-tiny", "prompt": "what is it?", "images": []string{tinyPNG}, "stream": false},
		"/api/chat": map[string]any{"model": "dayi-tiny", "stream": false,
			"messages": []map[string]any{{"role": "user", "content": "what is it?", "images": []string{tinyPNG}}}},
		"/v1/chat/completions": map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user",
			"content": []map[string]any{{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": map[string]string{"url": dataURL(tinyPNG)}}}}}},
	} {
		st, resp, _ := post(t, hs, path, body)
		if st != 400 || !strings.Contains(errText(t, resp), engine.ErrNoVision.Error()) {
			t.Errorf("%s: %d %s, want 400 with %q", path, st, resp, engine.ErrNoVision)
		}
	}
	st, resp, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "stream": false,
		"options": map[string]any{"num_predict": 2}})
	if st != 200 {
		t.Fatalf("text request after the image ones: %d %s", st, resp)
	}
}

// Hostile image inputs: each is a 400 (413 where the body limit hits first)
// whose message names the field and the limit, never quotes the input, and
// leaves the server up.
func TestImageAttacks(t *testing.T) {
	_, hs := testServer(t, Config{MaxBodyBytes: 32 << 20})
	gen := func(images ...any) map[string]any {
		return map[string]any{"model": "dayi-tiny", "prompt": "x", "images": images}
	}
	oa := func(content any) map[string]any {
		return map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user", "content": content}}}
	}
	part := func(url any) map[string]any {
		return map[string]any{"type": "image_url", "image_url": map[string]any{"url": url}}
	}
	tenK := make([]any, 10000)
	tenKParts := make([]map[string]any, 10000)
	for i := range tenK {
		tenK[i] = tinyPNG
		tenKParts[i] = part(dataURL(tinyPNG))
	}
	huge := strings.Repeat("QUFB", 3<<20) // 12 MiB of base64: 9 MiB decoded
	dcm := dcmtest.File{Rows: 2, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2", Pixels: []byte{1, 2, 3, 4}, PatientName: "DOE^JANE"}
	dcm.TransferSyntax = "1.2.840.10008.1.2.4.50"
	jpegDICOM := base64.StdEncoding.EncodeToString(dcm.Bytes())
	dcm.TransferSyntax = ""
	whole := dcm.Bytes()
	cutDICOM := base64.StdEncoding.EncodeToString(whole[:len(whole)-3])
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		want       []string // in the message
	}{
		{"10k tiny images", "/api/generate", gen(tenK...), 400, []string{"images:", "10000 items", "allowed 0 to 8"}},
		{"10k tiny images in chat", "/api/chat", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{
			{"role": "user", "content": "x", "images": tenK[:5000]}, {"role": "user", "content": "y", "images": tenK[5000:]}}}, 400, []string{"images:", "10000 items"}},
		{"10k image parts", "/v1/chat/completions", oa(tenKParts), 400, []string{"messages[0].content:", "10000 content parts"}},
		{"9 image parts", "/v1/chat/completions", oa(tenKParts[:9]), 400, []string{"messages[].content[].image_url:", "9 items"}},
		{"huge base64", "/api/generate", gen(huge), 400, []string{"images[0]:", "the limit is 8388608", `"images[]"`}},
		{"huge data URL", "/v1/chat/completions", oa([]any{part(dataURL(huge))}), 400, []string{"messages[0].content[0].image_url:", "the limit is 8388608"}},
		{"corrupt second image", "/api/generate", gen(tinyPNG, base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nbroken"))), 400, []string{"images[1]:", "not a readable image"}},
		{"not base64", "/api/generate", gen("%%% not base64 %%%"), 400, []string{"images[0]:", "invalid base64"}},
		{"Ollama image as a URL", "/api/generate", gen(tinyPNG, "https://example.org/cxr.png"), 400, []string{"images[1]:", "offline"}},
		{"Ollama image as a file URL", "/api/chat", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{
			{"role": "user", "content": "x", "images": []string{"file:///etc/passwd"}}}}, 400, []string{"messages[0].images[0]:", "file:"}},
		{"a number", "/api/generate", gen(12), 400, []string{"images[0]:", "base64 string"}},
		{"compressed DICOM", "/api/generate", gen(jpegDICOM), 400, []string{"images[0]:", "JPEG Baseline", "1.2.840.10008.1.2.4.50"}},
		{"truncated DICOM", "/v1/chat/completions", oa([]any{part("data:application/dicom;base64," + cutDICOM)}), 400, []string{"image_url:", "DICOM truncated", "(7FE0,0010)"}},
		{"png bomb", "/api/generate", gen(pngBombB64()), 400, []string{"images[0]:", "10000000000 pixels", `"images[].pixels"`}},
		{"file URL", "/v1/chat/completions", oa([]any{part("file:///etc/passwd")}), 400, []string{"messages[0].content[0].image_url:", "offline", "file:"}},
		{"https URL", "/v1/chat/completions", oa([]any{part("https://example.org/cxr.png")}), 400, []string{"image_url:", "never fetches"}},
		{"http URL bare string", "/v1/chat/completions", oa([]any{map[string]any{"type": "image_url", "image_url": "http://10.0.0.1/x.png"}}), 400, []string{"image_url:", "offline"}},
		{"url not a string", "/v1/chat/completions", oa([]any{part(map[string]any{"url": "data:"})}), 400, []string{"image_url.url:", "must be a string"}},
		{"image_url a number", "/v1/chat/completions", oa([]any{map[string]any{"type": "image_url", "image_url": 5}}), 400, []string{"content[0].image_url:", "must be an object"}},
		{"nested arrays", "/v1/chat/completions", oa([]any{[]any{map[string]any{"type": "text", "text": "x"}}}), 400, []string{"content[0]:", "must be an object"}},
		{"text an object", "/v1/chat/completions", oa([]any{map[string]any{"type": "text", "text": map[string]any{"a": 1}}}), 400, []string{"content[0]:"}},
		{"text missing", "/v1/chat/completions", oa([]any{map[string]any{"type": "text"}}), 400, []string{"content[0].text:", "required"}},
		{"content an object", "/v1/chat/completions", oa(map[string]any{"type": "text", "text": "x"}), 400, []string{"messages[0].content", "string or an array"}},
		{"unknown part type", "/v1/chat/completions", oa([]any{map[string]any{"type": "input_audio"}}), 400, []string{"content[0].type:", "input_audio"}},
		{"marker typed in text part", "/v1/chat/completions", oa([]any{map[string]any{"type": "text", "text": "x " + engine.ImageMarker}, part(dataURL(tinyPNG))}), 400, []string{"content[0].text:", "image marker"}},
		{"stray marker", "/api/chat", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user", "content": engine.ImageMarker}}}, 400, []string{"messages[0].content:", "1 image markers", "0 images"}},
		{"marker in system", "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "x", "system": engine.ImageMarker}, 400, []string{"system:"}},
	} {
		st, resp, _ := post(t, hs, tc.path, tc.body)
		msg := errText(t, resp)
		if st != tc.status {
			t.Errorf("%s: status %d, want %d (%.300s)", tc.name, st, tc.status, msg)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not say %q", tc.name, msg, w)
			}
		}
		if len(msg) > 400 || strings.Contains(msg, "DOE") || strings.Contains(msg, "QUFB") || strings.Contains(msg, "iVBOR") || strings.Contains(msg, "passwd") {
			t.Errorf("%s: the error echoes the request: %.300s", tc.name, msg)
		}
	}
	// Over the body limit itself: 413 naming it.
	_, small := testServer(t, Config{})
	st, resp, _ := post(t, small, "/api/generate", gen(huge))
	if st != 413 || !strings.Contains(errText(t, resp), fmt.Sprint(8<<20)) {
		t.Errorf("body over --max-body: %d %s", st, resp)
	}
	st, resp, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "stream": false,
		"options": map[string]any{"num_predict": 2}})
	if st != 200 {
		t.Fatalf("after the attacks: %d %s", st, resp)
	}
}
