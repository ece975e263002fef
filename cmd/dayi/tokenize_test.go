package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// runCmd runs the dayi CLI with args and stdin, returning stdout.
func runCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("dayi %v: %v", args, err)
	}
	return out.String()
}

// The expected ids are llama.cpp's (testdata/reference/stories260K.json,
// "Once upon a time": prompt_ids [1 403 407 261 378]).
func TestTokenizeCLI(t *testing.T) {
	if got := runCmd(t, "Once upon a time", "tokenize"); got != "1 403 407 261 378\n" {
		t.Errorf("tokenize = %q, want %q", got, "1 403 407 261 378\n")
	}
	if got := runCmd(t, "Once upon a time", "tokenize", "--raw"); got != "403 407 261 378\n" {
		t.Errorf("tokenize --raw = %q, want %q", got, "403 407 261 378\n")
	}
	// Default mode parses special-token text; --raw does not.
	if got := runCmd(t, "<s>", "tokenize"); got != "1 1\n" {
		t.Errorf("tokenize <s> = %q, want BOS + BOS", got)
	}
	if got := runCmd(t, "", "tokenize", "--raw"); got != "\n" {
		t.Errorf("tokenize --raw of empty stdin = %q, want an empty line", got)
	}
	var js struct {
		IDs    []int32  `json:"ids"`
		Pieces []string `json:"pieces"`
	}
	if err := json.Unmarshal([]byte(runCmd(t, "Once upon a time", "tokenize", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(js.IDs, []int32{1, 403, 407, 261, 378}) || !slices.Equal(js.Pieces, []string{"<s>", " Once", " upon", " a", " time"}) {
		t.Errorf("tokenize --json = %+v", js)
	}
}

func TestDetokenizeCLI(t *testing.T) {
	// llama.cpp's detokenize keeps the space after BOS and drops it when the
	// sequence starts with a word (testdata/reference/README.md "Text vs ids").
	if got := runCmd(t, "403 407 261 378\n", "detokenize"); got != "Once upon a time" {
		t.Errorf("detokenize = %q", got)
	}
	if got := runCmd(t, "1 403 407 261 378", "detokenize"); got != " Once upon a time" {
		t.Errorf("detokenize with BOS = %q", got)
	}
	root := newRootCmd()
	root.SetIn(strings.NewReader("403 99999"))
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"detokenize"})
	if err := root.Execute(); err == nil {
		t.Errorf("detokenize of an out-of-range id succeeded")
	}
}
