package main

import (
	"bytes"
	"encoding/json"
	"os"
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

// TestKBCommandsPG: `dayi kb … --pg DSN` keeps the knowledge base in
// PostgreSQL, so a host with another $DAYI_HOME queries, lists and
// removes what the first added.
func TestKBCommandsPG(t *testing.T) {
	dsn := os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	db := freshDatabase(t, t.Context(), dsn)
	t.Setenv("DAYI_HOME", t.TempDir())
	if out, err := runDayi(t, "kb", "add", "--pg", db, "--kb", "g", "../../knowledge/testdata/corpus.jsonl"); err != nil || !strings.Contains(out, "1 added") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	t.Setenv("DAYI_HOME", t.TempDir()) // another host
	out, err := runDayi(t, "kb", "query", "--pg", db, "--kb", "g", "--json", "-k", "3", "华法林 INR 目标")
	var hits []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &hits) != nil || len(hits) != 3 || hits[0]["source"] != "zh/warfarin-inr" {
		t.Fatalf("query through PostgreSQL: %v\n%s", err, out)
	}
	if out, _ := runDayi(t, "kb", "list", "--pg", db); !strings.Contains(out, "g ") {
		t.Errorf("list:\n%s", out)
	}
	if _, err := runDayi(t, "kb", "query", "--kb", "g", "x"); err == nil {
		t.Errorf("without --pg the local library answered for the shared one")
	}
	if _, err := runDayi(t, "kb", "rm", "--pg", db, "--kb", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := runDayi(t, "kb", "query", "--pg", db, "--kb", "g", "x"); err == nil {
		t.Errorf("query of a removed kb succeeded")
	}
}
