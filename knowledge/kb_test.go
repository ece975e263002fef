package knowledge

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openKB(t *testing.T, dir string, opt Options) *KB {
	t.Helper()
	kb, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	return kb
}

// TestRecallAt5 is the quality check of the issue: 36 guideline-style
// passages (testdata/corpus.jsonl, written for this test, Chinese and
// English) and 38 questions phrased differently from the passages, each with
// the source that answers it. BM25 alone must put that source in the top 5
// for at least 90% of them.
func TestRecallAt5(t *testing.T) {
	kb := openKB(t, t.TempDir(), Options{})
	rep, err := kb.Add(context.Background(), []string{"testdata/corpus.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != 1 || rep.Chunks < 36 || len(rep.Skipped) != 0 {
		t.Fatalf("report %+v", rep)
	}
	f, err := os.Open("testdata/queries.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, found, top1 := 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		q, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		n++
		hits, err := kb.Query(context.Background(), q, 5)
		if err != nil {
			t.Fatal(err)
		}
		rank := -1
		for i, h := range hits {
			if h.Source == want {
				rank = i
				break
			}
		}
		switch {
		case rank < 0:
			var got []string
			for _, h := range hits {
				got = append(got, h.Source)
			}
			t.Logf("miss: %q want %s, got %v", q, want, got)
		case rank == 0:
			top1++
			found++
		default:
			found++
		}
	}
	if n < 30 {
		t.Fatalf("only %d queries", n)
	}
	recall := float64(found) / float64(n)
	t.Logf("BM25 recall@5 = %.3f (%d/%d), precision@1 = %.3f", recall, found, n, float64(top1)/float64(n))
	if recall < 0.9 {
		t.Errorf("recall@5 = %.3f < 0.9", recall)
	}
}

// checkConsistent verifies the index invariants: bbolt's own page check,
// every file's chunks exist, every chunk belongs to a file, every posting
// points at a chunk, and the counters match.
func checkConsistent(t *testing.T, db *bolt.DB) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		owned := map[string]bool{}
		_ = tx.Bucket(bucketFiles).ForEach(func(k, v []byte) error {
			var rec fileRecord
			if err := jsonUnmarshal(v, &rec); err != nil {
				t.Errorf("file %s: %v", k, err)
			}
			for _, id := range rec.Chunks {
				if tx.Bucket(bucketChunks).Get(idKey(id)) == nil {
					t.Errorf("file %s: chunk %d missing", k, id)
				}
				owned[string(idKey(id))] = true
			}
			return nil
		})
		n := 0
		_ = tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			n++
			if !owned[string(k)] {
				t.Errorf("orphan chunk %x", k)
			}
			return nil
		})
		if c := counter(tx.Bucket(bucketMeta), keyN); c != int64(n) {
			t.Errorf("chunk counter %d, %d chunks", c, n)
		}
		_ = tx.Bucket(bucketPost).ForEach(func(k, v []byte) error {
			if tx.Bucket(bucketChunks).Get(k[len(k)-8:]) == nil {
				t.Errorf("posting %q points at a missing chunk", k)
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSkipped(t *testing.T) {
	docs := t.TempDir()
	writeFile(t, filepath.Join(docs, "bin.txt"), "abc\x00def")
	writeFile(t, filepath.Join(docs, "scan.pdf"), "%PDF-1.4")
	writeFile(t, filepath.Join(docs, "img.png"), "x")
	writeFile(t, filepath.Join(docs, "big.md"), strings.Repeat("x", 2000))
	writeFile(t, filepath.Join(docs, "bad.txt"), "\x80\xff\x80\xff\x80\xffabc\xff\xff")
	writeFile(t, filepath.Join(docs, "bad.jsonl"), "{\"text\":\"好的。\"}\nnot json\n{\"title\":\"no text\"}\n")
	writeFile(t, filepath.Join(docs, ".hidden.txt"), "secret")
	// "高血压" in GB18030 (GBK) bytes, as exported by older hospital systems
	writeFile(t, filepath.Join(docs, "gbk.txt"), "\xb8\xdf\xd1\xaa\xd1\xb9\xa1\xa3")
	writeFile(t, filepath.Join(docs, "u16.txt"), "\xff\xfeP\x00K\x00")
	kb := openKB(t, t.TempDir(), Options{MaxFileBytes: 1000})
	rep, err := kb.Add(context.Background(), []string{docs})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, s := range rep.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	want := map[string]string{
		"bin.txt": "binary", "scan.pdf": "PDF is not supported", "img.png": "unsupported file type",
		"big.md": "too large", "bad.txt": "undecodable", "bad.jsonl:2": "invalid JSON", "bad.jsonl:3": `no "text"`,
	}
	for f, w := range want {
		if !strings.Contains(reasons[f], w) {
			t.Errorf("%s: reason %q, want %q", f, reasons[f], w)
		}
	}
	if len(rep.Skipped) != len(want) {
		t.Errorf("skipped %+v", rep.Skipped)
	}
	if len(rep.Added) != 3 {
		t.Errorf("added %v", rep.Added)
	}
	hits, _ := kb.Query(context.Background(), "高血压", 1)
	if len(hits) != 1 || hits[0].Text != "高血压。" {
		t.Errorf("GBK file: %+v", hits)
	}
	if hits, _ := kb.Query(context.Background(), "PK", 1); len(hits) != 1 {
		t.Errorf("UTF-16 file not indexed")
	}
}

// topicEmbedder maps text onto one axis per topic keyword, so that a query
// sharing no word with a passage can still be near it; it stands in for a
// real model to test the fusion, not the model.
type topicEmbedder struct{}

func (topicEmbedder) Name() string { return "topics" }

func (topicEmbedder) Embed(_ context.Context, text string) ([]float32, error) {
	topics := [][]string{{"bedsore", "pressure ulcer", "褥疮", "压疮"}, {"kidney", "renal", "肾"}, {"heart", "cardiac", "心"}}
	v := make([]float32, len(topics)+1)
	v[len(topics)] = 0.1
	for i, words := range topics {
		for _, w := range words {
			if strings.Contains(strings.ToLower(text), w) {
				v[i] = 1
			}
		}
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v, nil
}

func TestDenseFusion(t *testing.T) {
	ctx := context.Background()
	docs := t.TempDir()
	writeFile(t, filepath.Join(docs, "c.jsonl"), `{"text":"Turn the patient every two hours to prevent pressure ulcers.","source":"ulcer"}
{"text":"Check renal function before contrast.","source":"renal"}
{"text":"Cardiac arrest needs chest compressions.","source":"heart"}
`)
	kb := openKB(t, t.TempDir(), Options{Embedder: topicEmbedder{}})
	if _, err := kb.Add(ctx, []string{docs}); err != nil {
		t.Fatal(err)
	}
	hits, err := kb.Query(ctx, "褥疮怎么预防", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Source != "ulcer" || math.Abs(hits[0].Score-1.0/61) > 1e-9 {
		t.Errorf("dense-only match not first: %+v", hits)
	}
	hits, _ = kb.Query(ctx, "renal function kidney", 3)
	if len(hits) == 0 || hits[0].Source != "renal" || math.Abs(hits[0].Score-2.0/61) > 1e-9 {
		t.Errorf("fused match: %+v", hits)
	}
	kb.opt.Embedder = otherEmbedder{}
	if _, err := kb.Query(ctx, "x", 3); err == nil {
		t.Errorf("query with another embedding model accepted")
	}
	if _, err := kb.Add(ctx, []string{docs}); err == nil {
		t.Errorf("adding with another embedding model accepted")
	}
}

type otherEmbedder struct{ topicEmbedder }

func (otherEmbedder) Name() string { return "other" }

func TestLibrary(t *testing.T) {
	ctx := context.Background()
	lib := &Library{Dir: t.TempDir()}
	if _, err := lib.Open("../x"); err == nil {
		t.Errorf("bad name accepted")
	}
	kb, err := lib.Open("guides")
	if err != nil {
		t.Fatal(err)
	}
	_, err = kb.Add(ctx, []string{"testdata/corpus.jsonl"})
	kb.Close()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := lib.List()
	if len(names) != 1 || names[0] != "guides" {
		t.Errorf("list %v", names)
	}
	ps, err := lib.Retrieve(ctx, "guides", "warfarin INR 华法林", 80)
	if err != nil || len(ps) == 0 || ps[0].Source != "zh/warfarin-inr" {
		t.Fatalf("retrieve: %+v %v", ps, err)
	}
	used := 0
	for _, p := range ps {
		used += EstimateTokens(p.Text)
	}
	if used > 80 {
		t.Errorf("retrieved %d tokens > 80", used)
	}
	if _, err := lib.Retrieve(ctx, "nope", "x", 100); err == nil {
		t.Errorf("missing kb accepted")
	}
	if err := lib.Remove("guides"); err != nil {
		t.Fatal(err)
	}
	if names, _ := lib.List(); len(names) != 0 {
		t.Errorf("after rm: %v", names)
	}
}

func itoa(i int) string { return strconvItoa(i) }
