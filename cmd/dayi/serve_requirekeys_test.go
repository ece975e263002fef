package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// `dayi serve --require-keys` on loopback with no key refuses to start and
// says how to make one; with a key it starts (and stops with its context);
// --help documents the flag.
func TestServeRequireKeys(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_API_KEYS", "")
	args := []string{"serve", "--require-keys", "--addr", "127.0.0.1:0", "--no-audit",
		"--no-clinic", "--no-memory", "--no-knowledge", "--ollama-models", "-"}
	_, err := runDayiCmd(t, args...)
	if err == nil || !strings.Contains(err.Error(), "--require-keys") || !strings.Contains(err.Error(), "dayi keys add") {
		t.Fatalf("serve --require-keys without a key: %v", err)
	}
	// With a key it starts; so does the same command without the flag,
	// which shows the refusal above comes from --require-keys alone.
	withKey := append(slices.Clone(args), "--api-key", "k")
	withoutFlag := slices.Delete(slices.Clone(args), 1, 2)
	for _, a := range [][]string{withKey, withoutFlag} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // Serve returns once it is listening
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(a)
		if err := root.ExecuteContext(ctx); err != nil {
			t.Errorf("serve %q: %v", a, err)
		}
	}

	help, err := runDayiCmd(t, "serve", "--help")
	if err != nil || !strings.Contains(help, "--require-keys") || !strings.Contains(help, "reverse proxy") {
		t.Fatalf("serve --help: %v\n%s", err, help)
	}
}
