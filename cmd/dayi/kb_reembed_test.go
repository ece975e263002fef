package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"dayi/knowledge"
)

// TestKBReembed: `kb reembed` moves a knowledge base from tiny-bert to
// tiny-nomic: afterwards kb list names the new model, queries with it are
// fused (and with the old one refused), and the passages it retrieves
// first are those kb add with tiny-nomic retrieves in a fresh knowledge base
// (same chunks, same vectors). A missing knowledge base is not created.
func TestKBReembed(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_KB_PG", "")
	bert, nomic := synthFile(t, "tiny-bert"), synthFile(t, "tiny-nomic")
	for _, args := range [][]string{
		{"kb", "add", "--kb", "e", "--chunk-tokens", "100", "--embed-model", bert, kbCorpus},
		{"kb", "add", "--kb", "fresh", "--chunk-tokens", "100", "--embed-model", nomic, kbCorpus},
	} {
		if out, err := runDayi(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := runDayi(t, "kb", "reembed", "--json", "--embed-model", nomic, "e")
	if err != nil {
		t.Fatalf("reembed: %v\n%s", err, out)
	}
	var rep knowledge.ReembedReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.From != "tiny-bert.gguf" || rep.To != "tiny-nomic.gguf" || rep.Chunks < 36 || rep.Embedded != rep.Chunks {
		t.Errorf("report %+v", rep)
	}
	if out, err := runDayi(t, "kb", "list", "--json"); err != nil || strings.Count(out, `"tiny-nomic.gguf"`) != 2 {
		t.Errorf("list after reembed: %v\n%s", err, out)
	}
	for _, q := range []string{"华法林 INR 目标", "how to prevent bedsores", "糖尿病足"} {
		got := kbQueryJSON(t, "--kb", "e", "--embed-model", nomic, "-k", "5", q)
		want := kbQueryJSON(t, "--kb", "fresh", "--embed-model", nomic, "-k", "5", q)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%q: %d hits, fresh %d", q, len(got), len(want))
		}
		for i := range got {
			if got[i].Text != want[i].Text || got[i].Score != want[i].Score {
				t.Errorf("%q #%d: %q %g, fresh knowledge base %q %g", q, i, got[i].Text, got[i].Score, want[i].Text, want[i].Score)
			}
		}
	}
	if _, err := runDayi(t, "kb", "query", "--kb", "e", "--embed-model", bert, "x"); !errors.Is(err, knowledge.ErrEmbedMismatch) {
		t.Errorf("old model after reembed: %v", err)
	}
	if _, err := runDayi(t, "kb", "reembed", "--embed-model", nomic, "nope"); err == nil {
		t.Error("reembed of a missing knowledge base succeeded")
	}
	if out, _ := runDayi(t, "kb", "list", "--json"); strings.Contains(out, `"nope"`) {
		t.Errorf("reembed created a knowledge base: %s", out)
	}
	if _, err := runDayi(t, "kb", "reembed", "e"); err == nil || !strings.Contains(err.Error(), "--embed-model") {
		t.Errorf("no model: %v", err)
	}
}

// TestKBReembedPG: `kb reembed --pg` re-embeds a knowledge base held in
// PostgreSQL; another host then queries it with the new model only.
func TestKBReembedPG(t *testing.T) {
	dsn := os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	db := freshDatabase(t, t.Context(), dsn)
	t.Setenv("DAYI_HOME", t.TempDir())
	bert, nomic := synthFile(t, "tiny-bert"), synthFile(t, "tiny-nomic")
	if out, err := runDayi(t, "kb", "add", "--pg", db, "--kb", "g", "--chunk-tokens", "100", "--embed-model", bert, kbCorpus); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err := runDayi(t, "kb", "reembed", "--pg", db, "--embed-model", nomic, "--kb", "g")
	if err != nil || !strings.Contains(out, "tiny-bert.gguf → tiny-nomic.gguf") {
		t.Fatalf("reembed: %v\n%s", err, out)
	}
	t.Setenv("DAYI_HOME", t.TempDir()) // another host
	if out, _ := runDayi(t, "kb", "list", "--pg", db, "--json"); !strings.Contains(out, `"tiny-nomic.gguf"`) {
		t.Errorf("list: %s", out)
	}
	if hits := kbQueryJSON(t, "--pg", db, "--kb", "g", "--embed-model", nomic, "-k", "3", "华法林 INR 目标"); len(hits) != 3 || hits[0].Score > 2.0/61+1e-9 {
		t.Errorf("fused query: %+v", hits)
	}
	if _, err := runDayi(t, "kb", "query", "--pg", db, "--kb", "g", "--embed-model", bert, "x"); !errors.Is(err, knowledge.ErrEmbedMismatch) {
		t.Errorf("old model after reembed: %v", err)
	}
	if _, err := runDayi(t, "kb", "reembed", "--pg", db, "--embed-model", nomic, "nope"); err == nil {
		t.Error("reembed of a missing knowledge base succeeded")
	}
	if out, _ := runDayi(t, "kb", "list", "--pg", db); strings.Contains(out, "nope") {
		t.Errorf("reembed created a knowledge base: %s", out)
	}
}
