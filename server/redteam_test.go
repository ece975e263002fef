package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"dayi/engine"
	"dayi/imageio/dcmtest"
)

// Regression tests for the holes found attacking the image paths merged on
// 2026-12-06 (issues 15/19/17 follow-up).

// nestedMarker survives one pass of strings.ReplaceAll(s, marker, ""):
// removing the inner marker joins its halves into a new one.
const nestedMarker = "<__med" + engine.ImageMarker + "ia__>"

// markerKB is a knowledge base whose passage nests the image marker, as a
// hostile document imported into it can.
type markerKB struct{}

func (markerKB) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error) {
	return []Passage{{ID: 1, Source: "x.pdf", Title: "Doc", Text: "see " + nestedMarker + nestedMarker + " here"}}, nil
}

// markerMemory recalls a turn whose answer nests the marker (a model can be
// steered to write it; it then comes back as grounding in a later request).
type markerMemory struct{}

func (markerMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	return "User: x\nAssistant: " + nestedMarker, nil
}
func (markerMemory) Record(ctx context.Context, patientID string, turn Turn) error { return nil }

// An image marker that a knowledge passage, a recalled memory or a
// client's Ollama tool description carries, nested so that one pass of
// removal rebuilds it, never reaches the prompt: with images, the engine
// would put a request's image (or read past its images) where that text
// stands.
func TestNestedImageMarkerStripped(t *testing.T) {
	rec := &recorder{}
	_, hs := testServer(t, Config{Knowledge: markerKB{}, Memory: markerMemory{}, NewGenerator: rec.hook()})
	// A raw body: json.Marshal would escape the marker's < and >, which
	// Ollama's raw tools then keep escaped.
	tools := `{"model": "dayi-tiny", "stream": false, "options": {"temperature": 0, "num_predict": 1}, "messages": [{"role": "user", "content": "q"}],
		"tools": [{"type": "function", "function": {"name": "f", "description": "a ` + nestedMarker + ` b", "parameters": {"type": "object"}}}]}`
	for name, body := range map[string]any{
		"knowledge": map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(1), "knowledge": "kb",
			"messages": []map[string]string{{"role": "user", "content": "q"}}},
		"memory": map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(1), "patient_id": "p-1",
			"messages": []map[string]string{{"role": "user", "content": "q"}}},
		"tools": tools,
	} {
		st, resp, _ := post(t, hs, "/api/chat", body)
		if st != 200 {
			t.Fatalf("%s: %d %s", name, st, resp)
		}
		p := rec.last()
		if strings.Contains(p, engine.ImageMarker) {
			t.Errorf("%s: the prompt holds an image marker:\n%s", name, p)
		}
		if name == "tools" && !strings.Contains(p, "a  b") {
			t.Errorf("%s: the tool description is not in the prompt:\n%s", name, p)
		}
		if name == "knowledge" && !strings.Contains(p, "see  here") {
			t.Errorf("%s: the passage's text around the markers is lost:\n%s", name, p)
		}
	}
	if got := stripMarkers("a" + strings.Repeat("<__med", 5) + engine.ImageMarker + strings.Repeat("ia__>", 5) + "b"); got != "ab" {
		t.Errorf("stripMarkers of 5 nested levels = %q, want %q", got, "ab")
	}
}

// Two requests with the same text and different images never share a
// prefix-cache scope (the cache matches token ids, and an image's soft
// tokens are the same ids whatever it shows); the same images in the same
// order do, and a request without images keeps the key's own scope.
func TestCacheScopeKeysOnImages(t *testing.T) {
	img := func(data ...string) []imageRef {
		var out []imageRef
		for i, d := range data {
			out = append(out, imageRef{field: "images[" + string(rune('0'+i)) + "]", data: d})
		}
		return out
	}
	a, b := tinyPNG, pngBombB64()
	if cacheScope("k1", nil) != "k1" {
		t.Fatalf("no images: scope %q, want the key's", cacheScope("k1", nil))
	}
	distinct := map[string][]imageRef{"a": img(a), "b": img(b), "ab": img(a, b), "ba": img(b, a), "x|yz": img("x", "yz"), "xy|z": img("xy", "z")}
	seen := map[string]string{"k1": "none"}
	for name, refs := range distinct {
		s := cacheScope("k1", refs)
		if prev, ok := seen[s]; ok {
			t.Errorf("images %s share the cache scope of %s", name, prev)
		}
		seen[s] = name
		if again := cacheScope("k1", img(append([]string(nil), dataOf(refs)...)...)); again != s {
			t.Errorf("images %s: the same images give another scope", name)
		}
		if cacheScope("k2", refs) == s {
			t.Errorf("images %s: two keys share a scope", name)
		}
		if strings.Contains(s, a[:16]) {
			t.Errorf("the scope holds the image's bytes")
		}
	}
}

func dataOf(refs []imageRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.data)
	}
	return out
}

// Images sent to the routes whose models read text only are refused with
// a 400 naming the field, not dropped: an embedding or a rerank score of
// the text alone would be taken for one of the image. (The clinic and web
// UI routes refuse unknown fields, images among them, already.)
func TestImagesOnTextOnlyRoutes(t *testing.T) {
	_, hs := testServer(t, Config{})
	for _, tc := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"embed", "/api/embed", map[string]any{"model": "dayi-tiny", "input": "x", "images": []string{tinyPNG}}, "images: not accepted"},
		{"embeddings", "/api/embeddings", map[string]any{"model": "dayi-tiny", "prompt": "x", "images": []string{tinyPNG}}, "images: not accepted"},
		{"rerank image document", "/v1/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a"}, {"image": dataURL(tinyPNG)}}}, "documents[1].image: not accepted"},
		{"rerank image_url document", "/api/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a", "image_url": map[string]string{"url": dataURL(tinyPNG)}}}}, "documents[0].image_url: not accepted"},
		{"rerank document without text", "/v1/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a"}, {"title": "b"}}}, "documents[1].text: required"},
		{"OpenAI embeddings image part", "/v1/embeddings", map[string]any{"model": "dayi-tiny",
			"input": []any{map[string]any{"type": "image_url", "image_url": map[string]string{"url": dataURL(tinyPNG)}}}}, "input: must be a non-empty string or array of strings"},
	} {
		st, resp, _ := post(t, hs, tc.path, tc.body)
		msg := errText(t, resp)
		if st != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", tc.name, st, msg, tc.want)
		}
		if strings.Contains(msg, "iVBOR") {
			t.Errorf("%s: the error quotes the image", tc.name)
		}
	}
	// Empty or null image fields are what some clients send always.
	for _, body := range []string{`{"model":"dayi-tiny","input":"x","images":null}`, `{"model":"dayi-tiny","input":"x","images":[]}`} {
		if st, resp, _ := post(t, hs, "/api/embed", body); st != 200 {
			t.Errorf("%s: %d %s", body, st, resp)
		}
	}
}

// pngOf encodes a w×h 16-bit RGBA PNG (flat, so a 4096×4096 one is a few
// hundred KB), base64 as Ollama clients send it.
func pngOf(t *testing.T, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA64(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// A request's decoded images are reserved from the server's budget, by
// their headers, before any is decoded, and given back when it ends:
// admission alone let --max-active requests hold 1 GiB of pixels each.
// A request that the budget cannot hold now waits (bounded by its
// context); one that it can never hold is a 400 naming images.
func TestImageMemoryBudget(t *testing.T) {
	s := &Server{pixels: newByteBudget(10 * 10 * maxBytesPerPixel)}
	ref := func(b64 string) imageRef { return imageRef{field: "images[0]", data: b64} }
	small, big := pngOf(t, 10, 5), pngOf(t, 11, 10)
	imgs, release, err := s.decodeImages(context.Background(), []imageRef{ref(small)})
	if err != nil || len(imgs) != 1 || imgs[0].Bounds().Dx() != 10 {
		t.Fatalf("decode: %v", err)
	}
	if n := s.pixels.inUse(); n != 10*5*maxBytesPerPixel {
		t.Fatalf("reserved %d bytes for a 10×5 image, want %d", n, 10*5*maxBytesPerPixel)
	}
	// The budget holds one more 10×5 image, not two: a second request
	// waits for the first to end.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := s.decodeImages(ctx, []imageRef{ref(small), ref(small)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("over the budget while another request holds it: %v, want a wait that ends with the context", err)
	}
	got := make(chan error, 1)
	go func() {
		_, rel, err := s.decodeImages(context.Background(), []imageRef{ref(small), ref(small)})
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	release() // twice is once
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request did not run once the budget was free")
	}
	if n := s.pixels.inUse(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
	// More than the whole budget: refused at once, naming the field.
	_, _, err = s.decodeImages(context.Background(), []imageRef{ref(big)})
	if statusOf(err) != 400 || !strings.HasPrefix(err.Error(), "images: ") {
		t.Fatalf("over the whole budget: %v", err)
	}

	// The worst request the limits allow (8 × 4096² pixels at 16 bits)
	// fits the default budget, so every acceptable request can run.
	if l := imageLimits(); int64(l.MaxImages)*l.MaxPixels*maxBytesPerPixel > maxDecodedImageBytes {
		t.Fatalf("the image limits' worst request needs more than the budget %d", maxDecodedImageBytes)
	}
	// Over HTTP nothing stays reserved after a request with images.
	srv, hs := testServer(t, Config{})
	st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "x", "stream": false, "images": []string{tinyPNG, small}})
	if st != 400 || !strings.Contains(errText(t, body), engine.ErrNoVision.Error()) {
		t.Fatalf("images over HTTP: %d %s", st, body)
	}
	if n := srv.pixels.inUse(); n != 0 {
		t.Fatalf("%d image bytes still reserved after the request", n)
	}
}

// Neither the audit log (with content recording on) nor the server's log
// holds an image's bytes or a DICOM header's values, for an image that
// decodes, one that does not, and one over the limits.
func TestImagesNeverLogged(t *testing.T) {
	al, path, _ := openTestAudit(t, true)
	var logged bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, hs := testServer(t, Config{Audit: al, Logger: lg})
	dcm := dcmtest.File{Rows: 2, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2", Pixels: []byte{1, 2, 3, 4},
		PatientName: "DOE^JANE"}
	good := base64.StdEncoding.EncodeToString(dcm.Bytes())
	dcm.Photometric = "PALETTE COLOR"
	unsupported := base64.StdEncoding.EncodeToString(dcm.Bytes())
	for _, body := range []map[string]any{
		{"model": "dayi-tiny", "prompt": "x", "stream": false, "images": []string{good}},
		{"model": "dayi-tiny", "prompt": "x", "stream": false, "images": []string{unsupported}},
		{"model": "dayi-tiny", "prompt": "x", "stream": false, "images": []string{pngBombB64()}},
		{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "image_url", "image_url": map[string]string{"url": "data:application/dicom;base64," + good}}}}}},
	} {
		path := "/api/generate"
		if body["messages"] != nil {
			path = "/v1/chat/completions"
		}
		if st, resp, _ := post(t, hs, path, body); st != 400 {
			t.Fatalf("%d %s", st, resp)
		}
	}
	recs, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(recs), "\n"); n < 4 {
		t.Fatalf("%d audit records, want the 4 requests'", n)
	}
	for what, text := range map[string]string{"audit log": string(recs), "server log": logged.String()} {
		for _, secret := range []string{"DOE", "JANE", good[:40], good[len(good)-40:], unsupported[200:240], pngBombB64()[:24]} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds %q", what, secret)
			}
		}
	}
}

// A request with images never shifts its context (the shift could cut an
// image's soft tokens in half); the same request without images does.
func TestNoContextShiftWithImages(t *testing.T) {
	s := &Server{}
	for _, shiftReq := range []*bool{nil, ptr(true)} {
		j := &job{shift: shiftReq}
		if shift, _, err := s.shiftOptions(j, 10); err != nil || !shift {
			t.Fatalf("text request (shift %v): shift %v, %v", shiftReq, shift, err)
		}
		j.images = []imageRef{{field: "images[0]", data: tinyPNG}}
		if shift, _, err := s.shiftOptions(j, 10); err != nil || shift {
			t.Fatalf("request with images (shift %v): shift %v, %v", shiftReq, shift, err)
		}
	}
}
