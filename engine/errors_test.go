package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/engine/sample"
	"dayi/weights"
)

// An architecture dayi does not run is refused with its name and the list.
func TestUnknownArchitectureNamed(t *testing.T) {
	src, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := weights.NewWriter(&buf)
	for _, kv := range src.KV {
		v := kv.Value
		if kv.Key == "general.architecture" {
			v, _ = weights.ValueOf("mamba")
		}
		if err := w.AddKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(f, Options{})
	if err == nil || !strings.Contains(err.Error(), `"mamba"`) || !strings.Contains(err.Error(), "llama") {
		t.Fatalf("want an error naming mamba and the supported list, got %v", err)
	}
}

// A prompt longer than the context is an error, never truncated.
func TestPromptLongerThanContext(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", ContextLength: 16})
	_, err := lm.Generate(context.Background(), &Request{Prompt: strings.Repeat("Once upon a time ", 10)}, func(string) error { return nil })
	if !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("got %v, want ErrPromptTooLong", err)
	}
	// Generation that reaches the end of the context stops with "length".
	res, err := lm.Generate(context.Background(), &Request{Prompt: "Once upon a time"}, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// 16 tokens fill the context; the token sampled from the last position
	// is returned too (it is never evaluated).
	if res.DoneReason != DoneLength || res.PromptTokens+len(res.Tokens) != 17 {
		t.Fatalf("done %q after %d+%d tokens, want length with 16 in the context", res.DoneReason, res.PromptTokens, len(res.Tokens))
	}
}

// The portable path (simplego, weights dequantized on the host) and dayi's
// backend give the same logits on the embedded model.
func TestPortableAndOwnBackendAgree(t *testing.T) {
	ctx := context.Background()
	ids := []int32{1, 403, 407, 261, 378}
	var out [][]float32
	for _, be := range []string{"go", "dayi"} {
		m, err := Load(openShared(t, "stories260K.gguf"), Options{Backend: be, KVType: "f32", Buckets: []int{8}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Eval(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float32(nil), l...))
		s.Close()
	}
	if d, at := maxDiff(out[0], out[1]); d > 1e-4 {
		t.Fatalf("simplego and dayi backends differ by %g at %d", d, at)
	}
}

// Same seed, same text; JSON format gives valid JSON.
func TestSeedAndJSONFormat(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi"})
	ctx := context.Background()
	gen := func(req *Request) string {
		res, err := lm.Generate(ctx, req, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return res.Text
	}
	req := &Request{Prompt: "Once upon a time", MaxTokens: 30}
	req.Sampling = sample.Options{Temperature: 1.5, TopK: 40, TopP: 1, Seed: 7}
	first := gen(req)
	if again := gen(req); first != again {
		t.Fatalf("same seed gave different texts:\n%q\n%q", first, again)
	}
	differs := false
	for seed := int64(8); seed < 12 && !differs; seed++ {
		r := *req
		r.Sampling.Seed = seed
		differs = gen(&r) != first
	}
	if !differs {
		t.Fatal("seeds 8..11 at temperature 1.5 all gave seed 7's text: the seed is ignored")
	}
	js := &Request{Prompt: "Once upon a time", MaxTokens: 200, Format: []byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer"}},"required":["name","age"]}`)}
	js.Sampling.Temperature, js.Sampling.Seed = 0.8, 3
	out := gen(js)
	if err := validJSONObject(out, []string{"name", "age"}); err != nil {
		t.Fatalf("format output %q: %v", out, err)
	}
}

func validJSONObject(s string, keys []string) error {
	var v map[string]any
	if err := jsonUnmarshal([]byte(s), &v); err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := v[k]; !ok {
			return errors.New("missing key " + k)
		}
	}
	return nil
}
