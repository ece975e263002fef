package server

import (
	"encoding/json"
	"slices"
	"testing"
)

// /api/show names what a model serves with Ollama's capability names: a
// bert encoder embeds and never completes (/api/generate answers "does not
// generate"), a reranker lists neither, and the decoder dayi-tiny, whose
// GGUF has no chat template, completes and embeds but offers no tools.
func TestShowCapabilities(t *testing.T) {
	hs := encoderServer(t, Config{}, testServer)
	for model, want := range map[string][]string{
		"tiny-bert":      {"embedding"},
		"tiny-bert-rank": {},
		"dayi-tiny":      {"completion", "embedding"},
	} {
		st, body, _ := post(t, hs, "/api/show", map[string]any{"model": model})
		if st != 200 {
			t.Fatalf("%s: %d %s", model, st, body)
		}
		var resp struct {
			Capabilities *[]string `json:"capabilities"`
			Template     string    `json:"template"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s: %v: %s", model, err, body)
		}
		if resp.Capabilities == nil || !slices.Equal(*resp.Capabilities, want) {
			t.Errorf("%s: capabilities %s, want %q", model, body, want)
		}
		if model != "dayi-tiny" && resp.Template != "" {
			t.Errorf("%s: an encoder has template %q", model, resp.Template)
		}
	}
}
