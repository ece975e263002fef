package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"dayi/memory"
)

// dayi chat --patient stores every turn, and the next session recalls them.
func TestChatPatientMemory(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	run := func(input string) string {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetIn(strings.NewReader(input))
		root.SetArgs([]string{"chat", "--patient", "p1", "-n", "4", "--temperature", "0"})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	run("I am allergic to penicillin.\nThank you.\n")
	run("Which antibiotic?\n")
	st, err := openMemoryStore(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := memory.New(st, memory.Options{})
	got, err := m.Recall(context.Background(), "p1", "antibiotic", 300)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(got), "penicillin") || !strings.Contains(got, "Which antibiotic?") {
		t.Fatalf("recall after two chat sessions: %q", got)
	}
}
