package knowledge

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// topicsV2 is another model of the same topics: one dimension more, so that
// a vector of either model is passed over by the other's query (scoreVec
// skips a length mismatch) and the test can tell whose vectors are stored.
type topicsV2 struct{ topicEmbedder }

func (topicsV2) Name() string { return "topics-v2" }

func (e topicsV2) Embed(ctx context.Context, text string) ([]float32, error) {
	v, err := e.topicEmbedder.Embed(ctx, text)
	return append(v, 0), err
}

// failAfter embeds with e until its n-th call, then fails: a re-embed
// interrupted midway.
type failAfter struct {
	Embedder
	n, calls int
}

func (f *failAfter) Embed(ctx context.Context, text string) ([]float32, error) {
	f.calls++
	if f.calls > f.n {
		return nil, errors.New("model crashed")
	}
	return f.Embedder.Embed(ctx, text)
}

func setEmbedder(t *testing.T, b Base, e Embedder) {
	switch k := b.(type) {
	case *KB:
		k.opt.Embedder = e
	case *PGKB:
		k.opt.Embedder = e
	default:
		t.Fatalf("store %T", b)
	}
}

// TestSuiteReembed switches a knowledge base from one embedding model to
// another: an interrupted re-embed leaves it answering with the old model
// (and refusing the new one); the next run resumes from the vectors set
// aside, swaps, and afterwards only the new model's vectors answer, the old
// model is refused, and `kb add` with the new model finds every file
// unchanged.
func TestSuiteReembed(t *testing.T) {
	ctx := context.Background()
	docs := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"text":"Turn the patient every two hours to prevent pressure ulcers.","source":"ulcer"}` + "\n")
	b.WriteString(`{"text":"Check renal function before contrast.","source":"renal"}` + "\n")
	for i := 0; i < 40; i++ {
		b.WriteString(`{"text":"Ward round note number ` + itoa(i) + ` lists the beds seen.","source":"note"}` + "\n")
	}
	writeFile(t, filepath.Join(docs, "c.jsonl"), b.String())
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			kb, _ := st.open(t, Options{Embedder: topicEmbedder{}})
			if _, err := kb.Add(ctx, []string{docs}); err != nil {
				t.Fatal(err)
			}
			// interrupted after one batch of 32 set aside
			rep, err := Reembed(ctx, kb, &failAfter{Embedder: topicsV2{}, n: reembedBatch + 3}, nil)
			if err == nil || !strings.Contains(err.Error(), "model crashed") || rep.Embedded != reembedBatch {
				t.Fatalf("interrupted re-embed: %+v %v", rep, err)
			}
			if s, _ := kb.Stats(); s.EmbedModel != "topics" {
				t.Errorf("model after a failed re-embed: %q", s.EmbedModel)
			}
			hits, err := kb.Query(ctx, "褥疮怎么预防", 3)
			if err != nil || len(hits) == 0 || hits[0].Source != "ulcer" {
				t.Errorf("old model no longer answers: %+v %v", hits, err)
			}
			setEmbedder(t, kb, topicsV2{})
			if _, err := kb.Query(ctx, "x", 3); !errors.Is(err, ErrEmbedMismatch) {
				t.Errorf("new model answers before the swap: %v", err)
			}
			st.consistent(t, kb)

			var last, total int
			rep, err = Reembed(ctx, kb, topicsV2{}, func(d, n int) { last, total = d, n })
			if err != nil {
				t.Fatal(err)
			}
			if rep.From != "topics" || rep.To != "topics-v2" || rep.Chunks != 42 || rep.Resumed != reembedBatch ||
				rep.Embedded != 42-reembedBatch || rep.Rounds != 1 || last != total || total != 42-reembedBatch {
				t.Errorf("report %+v, progress %d/%d", rep, last, total)
			}
			if s, _ := kb.Stats(); s.EmbedModel != "topics-v2" || s.Chunks != 42 {
				t.Errorf("stats after re-embed: %+v", s)
			}
			// dense-only match: BM25 has nothing for this query, so the hit
			// comes from a topics-v2 vector (5 dimensions) of the passage
			hits, err = kb.Query(ctx, "褥疮怎么预防", 3)
			if err != nil || len(hits) == 0 || hits[0].Source != "ulcer" || math.Abs(hits[0].Score-1.0/61) > 1e-9 {
				t.Errorf("new model's vectors not used: %+v %v", hits, err)
			}
			setEmbedder(t, kb, topicEmbedder{})
			if _, err := kb.Query(ctx, "x", 3); !errors.Is(err, ErrEmbedMismatch) {
				t.Errorf("old model still answers: %v", err)
			}
			setEmbedder(t, kb, topicsV2{})
			add, err := kb.Add(ctx, []string{docs})
			if err != nil || len(add.Unchanged) != 1 || add.Chunks != 0 {
				t.Errorf("add after re-embed: %+v %v", add, err)
			}
			st.consistent(t, kb)
			// nothing set aside is left behind
			rep, err = Reembed(ctx, kb, topicsV2{}, nil)
			if err != nil || rep.Resumed != 0 || rep.Embedded != 42 || rep.From != "topics-v2" {
				t.Errorf("second re-embed: %+v %v", rep, err)
			}
		})
	}
}

func TestWithEmbedSetting(t *testing.T) {
	for in, want := range map[string]string{
		"chunk=256;count=estimate":            "chunk=256;count=estimate;embed=m2",
		"chunk=256;count=estimate;embed=m1":   "chunk=256;count=estimate;embed=m2",
		"chunk=9;count=tokenizer:x;embed=a;b": "chunk=9;count=tokenizer:x;embed=m2",
	} {
		if got := withEmbedSetting(in, "m2"); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// slowEmbedder gives the parent of TestSuiteKillDuringReembed time to kill
// its child between two batches.
type slowEmbedder struct{ topicsV2 }

func (e slowEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	time.Sleep(50 * time.Millisecond)
	return e.topicsV2.Embed(ctx, text)
}

// TestSuiteKillDuringReembed re-embeds in a child process and kills it
// (SIGKILL) after its first batch of new vectors is set aside: the
// knowledge base still answers with its old model, its invariants hold,
// and a re-embed in this process resumes from the batch set aside.
func TestSuiteKillDuringReembed(t *testing.T) {
	if os.Getenv("DAYI_KB_REEMBED_CHILD") != "" {
		var kb Base
		hook := func() { os.Stdout.WriteString("committed\n") }
		if pfx := os.Getenv("DAYI_KB_PREFIX"); pfx != "" {
			db, err := OpenPG(context.Background(), os.Getenv("DAYI_TEST_PG"), pfx)
			if err != nil {
				os.Exit(2)
			}
			k, err := db.Open(context.Background(), "guides", Options{}, true)
			if err != nil {
				os.Exit(2)
			}
			k.afterCommit = hook
			kb = k
		} else {
			k, err := Open(os.Getenv("DAYI_KB_DIR"), Options{})
			if err != nil {
				os.Exit(2)
			}
			k.afterCommit = hook
			kb = k
		}
		_, _ = Reembed(context.Background(), kb, slowEmbedder{}, nil)
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	docs := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"text":"Turn the patient every two hours to prevent pressure ulcers.","source":"ulcer"}` + "\n")
	for i := 0; i < 2*reembedBatch; i++ {
		b.WriteString(`{"text":"Ward round note number ` + itoa(i) + ` lists the beds seen.","source":"note"}` + "\n")
	}
	writeFile(t, filepath.Join(docs, "c.jsonl"), b.String())
	const chunks = 2*reembedBatch + 1
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			env := []string{"DAYI_KB_REEMBED_CHILD=1"}
			var kb Base
			if st.name == "postgres" {
				dsn, prefix := testPG(t)
				env = append(env, "DAYI_KB_PREFIX="+prefix)
				db, err := OpenPG(context.Background(), dsn, prefix)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(db.Close)
				if kb, err = db.Open(context.Background(), "guides", Options{Embedder: topicEmbedder{}}, false); err != nil {
					t.Fatal(err)
				}
			} else {
				dir := t.TempDir()
				env = append(env, "DAYI_KB_DIR="+dir)
				k, err := Open(dir, Options{Embedder: topicEmbedder{}})
				if err != nil {
					t.Fatal(err)
				}
				kb = k
			}
			if _, err := kb.Add(context.Background(), []string{docs}); err != nil {
				t.Fatal(err)
			}
			if st.name == "bolt" {
				kb.Close() // the child takes the file's lock
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteKillDuringReembed$")
			cmd.Env = append(os.Environ(), env...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			committed := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if sc.Text() == "committed" {
						select {
						case committed <- true:
						default:
						}
					}
				}
			}()
			select {
			case <-committed:
			case <-time.After(60 * time.Second):
				t.Error("child set nothing aside in 60 s")
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if st.name == "bolt" {
				kb = openKB(t, envValue(env, "DAYI_KB_DIR"), Options{Embedder: topicEmbedder{}})
			}
			st.consistent(t, kb)
			if s, _ := kb.Stats(); s.EmbedModel != "topics" || s.Chunks != chunks {
				t.Errorf("after the kill: %+v", s)
			}
			hits, err := kb.Query(context.Background(), "褥疮怎么预防", 3)
			if err != nil || len(hits) == 0 || hits[0].Source != "ulcer" {
				t.Errorf("old model no longer answers: %+v %v", hits, err)
			}
			rep, err := Reembed(context.Background(), kb, topicsV2{}, nil)
			if err != nil || rep.Resumed < reembedBatch || rep.Resumed >= chunks || rep.Resumed+rep.Embedded != chunks || rep.Chunks != chunks {
				t.Errorf("resume: %+v %v", rep, err)
			}
			if s, _ := kb.Stats(); s.EmbedModel != "topics-v2" {
				t.Errorf("after the resumed re-embed: %+v", s)
			}
			st.consistent(t, kb)
			t.Logf("killed with %d of %d set aside", rep.Resumed, chunks)
		})
	}
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok && k == key {
			return v
		}
	}
	return ""
}
