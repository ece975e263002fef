package server

import (
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"

	"dayi/engine"
	"dayi/internal/testref"
	"dayi/weights"
)

// With Config.Speculation (dayi serve --draft) a model of the draft's
// vocabulary speculates and answers what a plain server answers, /metrics
// counts the proposals, and a model of another vocabulary is still served
// (without speculation).
func TestServerSpeculation(t *testing.T) {
	f, err := weights.Open(testref.File(t, "models", "stories260K-q4_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := engine.Load(f, engine.Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	draft, err := engine.NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	other := testref.File(t, "models", "llama-2-tiny-random.gguf")
	_, plain := testServer(t, Config{Engine: engine.Options{Backend: "dayi"}})
	_, spec := testServer(t, Config{Engine: engine.Options{Backend: "dayi"}, ModelPaths: []string{other},
		Speculation: &engine.Speculation{Draft: draft, DraftMax: 4}})
	body := map[string]any{"model": "dayi-tiny", "prompt": "Once upon a time", "stream": false, "options": greedy(60)}
	gen := func(hs *httptest.Server) genResp {
		t.Helper()
		st, r := generateOnce(t, func(b any) (int, []byte) { s, d, _ := post(t, hs, "/api/generate", b); return s, d }, body)
		if st != 200 {
			t.Fatalf("%s: %d %s", body["model"], st, r.Error)
		}
		return r
	}
	want, got := gen(plain), gen(spec)
	if got.Response != want.Response {
		t.Fatalf("speculative %q, plain %q", got.Response, want.Response)
	}
	st, data := get(t, spec, "/metrics")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	num := func(name string) int {
		m := regexp.MustCompile(name + `\{model="dayi-tiny"\} (\d+)`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("/metrics has no %s for dayi-tiny:\n%s", name, data)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	if d, a := num("dayi_spec_drafted_tokens_total"), num("dayi_spec_accepted_tokens_total"); d == 0 || a == 0 || a > d {
		t.Fatalf("drafted %d accepted %d", d, a)
	}
	body["model"] = "llama-2-tiny-random"
	body["options"] = greedy(4)
	gen(spec) // served, without speculation
}
