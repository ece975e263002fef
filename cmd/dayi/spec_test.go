package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"dayi/internal/testref"
)

func runDayiSpec(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// dayi run --draft / --spec ngram: greedy text equals plain decoding, --json
// and --verbose report the proposals, and a draft with another vocabulary
// is refused naming both files.
func TestRunSpeculative(t *testing.T) {
	q8 := testref.File(t, "models", "stories260K-q8_0.gguf")
	base := []string{"run", "-m", q8, "--temperature", "0", "-n", "48", "--json", "Once upon a time"}
	type out struct {
		Response      string `json:"response"`
		DraftCount    int    `json:"draft_count"`
		DraftAccepted int    `json:"draft_accepted"`
	}
	parse := func(args ...string) out {
		t.Helper()
		s, _, err := runDayiSpec(t, append(append([]string{}, base...), args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var o out
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return o
	}
	plain := parse()
	for _, args := range [][]string{{"--draft", "dayi-tiny"}, {"--spec", "ngram", "--draft-max", "4"}} {
		got := parse(args...)
		if got.Response != plain.Response {
			t.Errorf("%v: %q, plain %q", args, got.Response, plain.Response)
		}
		if got.DraftCount == 0 || got.DraftAccepted == 0 {
			t.Errorf("%v: drafted %d accepted %d", args, got.DraftCount, got.DraftAccepted)
		}
	}
	_, stderr, err := runDayiSpec(t, "run", "-m", q8, "--draft", "dayi-tiny", "--temperature", "0", "-n", "8", "--verbose", "Once")
	if err != nil || !strings.Contains(stderr, "draft tokens:") {
		t.Fatalf("--verbose: %v %q", err, stderr)
	}
	other := testref.File(t, "models", "llama-2-tiny-random.gguf")
	_, _, err = runDayiSpec(t, "run", "-m", q8, "--draft", other, "x")
	if err == nil || !strings.Contains(err.Error(), "llama-2-tiny-random.gguf") || !strings.Contains(err.Error(), "stories260K-q8_0.gguf") {
		t.Fatalf("other vocabulary: %v", err)
	}
	for _, bad := range [][]string{{"--spec", "ngram", "--draft", "dayi-tiny"}, {"--spec", "medusa"}, {"--draft-max", "4"}, {"--spec", "ngram", "--draft-max", "65"}} {
		if _, _, err := runDayiSpec(t, append([]string{"run", "-m", q8, "-n", "2"}, append(bad, "x")...)...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
