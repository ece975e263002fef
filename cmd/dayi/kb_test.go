package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"dayi/memory"
)

// runDayi runs the root command with args and returns its output.
func runDayi(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestKBCommands(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	if out, err := runDayi(t, "kb", "add", "--kb", "g", "../../knowledge/testdata/corpus.jsonl"); err != nil || !strings.Contains(out, "1 added") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err := runDayi(t, "kb", "query", "--kb", "g", "--json", "-k", "3", "华法林 INR 目标")
	if err != nil {
		t.Fatal(err)
	}
	var hits []map[string]any
	if err := json.Unmarshal([]byte(out), &hits); err != nil || len(hits) != 3 {
		t.Fatalf("query json: %v\n%s", err, out)
	}
	for _, f := range []string{"source", "title", "location", "score", "text"} {
		if _, ok := hits[0][f]; !ok {
			t.Errorf("field %s missing", f)
		}
	}
	if hits[0]["source"] != "zh/warfarin-inr" {
		t.Errorf("top hit %v", hits[0]["source"])
	}
	if out, _ := runDayi(t, "kb", "list"); !strings.Contains(out, "g ") {
		t.Errorf("list:\n%s", out)
	}
	if _, err := runDayi(t, "kb", "rm", "--kb", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := runDayi(t, "kb", "query", "--kb", "g", "x"); err == nil {
		t.Errorf("query of a removed kb succeeded")
	}
}

func TestMemoryCommands(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_MEMORY_PG", "")
	t.Setenv("DAYI_MEMORY_KEY", "")
	s, err := openMemoryStore(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	m := newMemoryFor(s)
	if err := m.Record(t.Context(), "p1", turnFor("患者对青霉素过敏。")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := runDayi(t, "memory", "show", "--patient", "p1")
	if err != nil || !strings.Contains(out, "allergy: 青霉素") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, err = runDayi(t, "memory", "export", "--patient", "p1")
	if err != nil || !strings.Contains(out, `"subject": "青霉素"`) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if _, err := runDayi(t, "memory", "forget", "--patient", "p1"); err != nil {
		t.Fatal(err)
	}
	if out, _ := runDayi(t, "memory", "show", "--patient", "p1"); !strings.Contains(out, "0 turns, 0 facts") {
		t.Errorf("after forget:\n%s", out)
	}
}

func newMemoryFor(s memory.Store) *memory.Memory { return memory.New(s, memory.Options{}) }

func turnFor(user string) memory.Turn { return memory.Turn{User: user} }
