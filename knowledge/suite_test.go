package knowledge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// store is one kind of knowledge-base store under the shared suite: the
// bbolt file and PostgreSQL (when DAYI_TEST_PG names a server) must pass
// the same tests and rank a corpus identically.
type store struct {
	name string
	// open returns a fresh, empty knowledge base for one test, and a
	// function that opens another handle onto it (another server's, for
	// PostgreSQL; for bbolt, whose file one process opens once, the same).
	open func(t *testing.T, opt Options) (Base, func() Base)
	// consistent checks the index invariants.
	consistent func(t *testing.T, b Base)
}

func stores(t *testing.T) []store {
	return []store{
		{name: "bolt", open: func(t *testing.T, opt Options) (Base, func() Base) {
			kb := openKB(t, t.TempDir(), opt)
			return kb, func() Base { return kb }
		}, consistent: func(t *testing.T, b Base) { checkConsistent(t, b.(*KB).db) }},
		{name: "postgres", open: func(t *testing.T, opt Options) (Base, func() Base) {
			dsn, prefix := testPG(t)
			open := func() Base {
				db, err := OpenPG(context.Background(), dsn, prefix)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(db.Close)
				k, err := db.Open(context.Background(), "guides", opt, false)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			return open(), open
		}, consistent: func(t *testing.T, b Base) { checkConsistentPG(t, b.(*PGKB)) }},
	}
}

// testPG returns $DAYI_TEST_PG and a fresh table prefix whose tables are
// dropped after the test, or skips the test without a server.
func testPG(t *testing.T) (dsn, prefix string) {
	dsn = os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	prefix = fmt.Sprintf("kbtest_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropPG(t, dsn, prefix) })
	return dsn, prefix
}

func dropPG(t *testing.T, dsn, prefix string) {
	db, err := OpenPG(context.Background(), dsn, prefix)
	if err != nil {
		t.Errorf("dropping %s_*: %v", prefix, err)
		return
	}
	defer db.Close()
	if _, err := db.pool.Exec(context.Background(), db.sql(`DROP TABLE {reembed}, {vectors}, {postings}, {chunks}, {files}, {bases}`)); err != nil {
		t.Errorf("dropping %s_*: %v", prefix, err)
	}
}

// checkConsistentPG checks the invariants checkConsistent checks in
// bbolt: every file's chunks exist, every chunk belongs to one file, and
// the counters match the rows (postings and vectors point at chunks by
// foreign key).
func checkConsistentPG(t *testing.T, k *PGKB) {
	t.Helper()
	ctx := context.Background()
	var missing, orphans, owners, chunks, n, totalLen, sumTerms int64
	err := k.db.pool.QueryRow(ctx, k.db.sql(`SELECT
	(SELECT count(*) FROM {files} f, unnest(f.chunks) id WHERE f.kb = $1 AND NOT EXISTS (SELECT 1 FROM {chunks} c WHERE c.kb = $1 AND c.id = id)),
	(SELECT count(*) FROM {chunks} c WHERE c.kb = $1 AND NOT EXISTS (SELECT 1 FROM {files} f WHERE f.kb = $1 AND c.id = ANY(f.chunks))),
	(SELECT count(*) FROM {files} f, unnest(f.chunks) id WHERE f.kb = $1),
	(SELECT count(*) FROM {chunks} WHERE kb = $1),
	b.chunks, b.total_len,
	(SELECT coalesce(sum(terms), 0) FROM {chunks} WHERE kb = $1)
FROM {bases} b WHERE b.name = $1`), k.name).Scan(&missing, &orphans, &owners, &chunks, &n, &totalLen, &sumTerms)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 || orphans != 0 || owners != chunks || n != chunks || totalLen != sumTerms {
		t.Errorf("inconsistent: %d missing chunks, %d orphans, %d owned of %d chunks, counter %d, total length %d of %d",
			missing, orphans, owners, chunks, n, totalLen, sumTerms)
	}
}

func TestSuiteReaddAndReplace(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			docs := t.TempDir()
			a := filepath.Join(docs, "a.md")
			writeFile(t, a, "# 抗凝\n\n华法林需要监测INR。\n\n## 出血\n\nWarfarin bleeding needs vitamin K.\n")
			writeFile(t, filepath.Join(docs, "b.txt"), "Metformin is first line for type 2 diabetes.\n")
			kb, _ := st.open(t, Options{})
			rep, err := kb.Add(ctx, []string{docs})
			if err != nil || len(rep.Added) != 2 || rep.Chunks != 3 {
				t.Fatalf("first add: %+v %v", rep, err)
			}
			rep, err = kb.Add(ctx, []string{docs})
			if err != nil || len(rep.Unchanged) != 2 || len(rep.Added)+len(rep.Updated) != 0 {
				t.Fatalf("re-add: %+v %v", rep, err)
			}
			writeFile(t, a, "# 抗凝\n\n达比加群不需要常规监测。\n")
			rep, err = kb.Add(ctx, []string{a})
			if err != nil || len(rep.Updated) != 1 || rep.Chunks != 1 {
				t.Fatalf("changed file: %+v %v", rep, err)
			}
			if hits, _ := kb.Query(ctx, "华法林 warfarin vitamin", 5); len(hits) != 0 {
				t.Errorf("old chunks still found: %+v", hits)
			}
			hits, _ := kb.Query(ctx, "达比加群", 5)
			if len(hits) != 1 || hits[0].Text != "达比加群不需要常规监测。" || hits[0].Title != "抗凝" || hits[0].Location != "抗凝, line 3" || hits[0].ID != 4 {
				t.Errorf("new chunk: %+v", hits)
			}
			s, _ := kb.Stats()
			if s.Files != 2 || s.Chunks != 2 {
				t.Errorf("stats %+v", s)
			}
			files, _ := kb.Files()
			if len(files) != 2 || files[0].Path != a || files[0].Chunks != 1 || files[1].Source != filepath.Join(docs, "b.txt") {
				t.Errorf("files %+v", files)
			}
			st.consistent(t, kb)
			if n, err := kb.Remove([]string{a}); n != 1 || err != nil {
				t.Fatalf("remove: %d %v", n, err)
			}
			if hits, _ := kb.Query(ctx, "达比加群", 5); len(hits) != 0 {
				t.Errorf("removed file still found")
			}
			st.consistent(t, kb)
		})
	}
}

// TestSuiteSameRanking ingests the recall corpus into every store and
// checks that each query gets the same chunks, in the same order, with the
// same scores (and that BM25 still finds the answer in the top 5 for 90%).
func TestSuiteSameRanking(t *testing.T) {
	ctx := context.Background()
	qf, err := os.ReadFile("testdata/queries.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var results [][][]Hit
	var names []string
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			kb, _ := st.open(t, Options{})
			if _, err := kb.Add(ctx, []string{"testdata/corpus.jsonl"}); err != nil {
				t.Fatal(err)
			}
			var all [][]Hit
			found, n := 0, 0
			for _, line := range strings.Split(string(qf), "\n") {
				q, want, ok := strings.Cut(line, "\t")
				if !ok {
					continue
				}
				n++
				hits, err := kb.Query(ctx, q, 5)
				if err != nil {
					t.Fatal(err)
				}
				if slices.IndexFunc(hits, func(h Hit) bool { return h.Source == want }) >= 0 {
					found++
				}
				all = append(all, hits)
			}
			if n < 30 || float64(found)/float64(n) < 0.9 {
				t.Errorf("recall@5 %d/%d", found, n)
			}
			results = append(results, all)
			names = append(names, st.name)
		})
	}
	for i := 1; i < len(results); i++ {
		for q := range results[0] {
			a, b := results[0][q], results[i][q]
			same := len(a) == len(b)
			for j := 0; same && j < len(a); j++ {
				same = a[j].ID == b[j].ID && a[j].Score == b[j].Score && a[j].Text == b[j].Text && a[j].Source == b[j].Source
			}
			if !same {
				t.Errorf("query %d: %s and %s rank differently:\n%+v\n%+v", q+1, names[0], names[i], a, b)
			}
		}
	}
}

func TestSuiteDenseFusion(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			docs := t.TempDir()
			writeFile(t, filepath.Join(docs, "c.jsonl"), `{"text":"Turn the patient every two hours to prevent pressure ulcers.","source":"ulcer"}
{"text":"Check renal function before contrast.","source":"renal"}
{"text":"Cardiac arrest needs chest compressions.","source":"heart"}
`)
			kb, _ := st.open(t, Options{Embedder: topicEmbedder{}})
			if _, err := kb.Add(ctx, []string{docs}); err != nil {
				t.Fatal(err)
			}
			hits, err := kb.Query(ctx, "褥疮怎么预防", 3)
			if err != nil || len(hits) == 0 || hits[0].Source != "ulcer" || hits[0].Score != 1.0/61 {
				t.Errorf("dense-only match not first: %+v %v", hits, err)
			}
			hits, _ = kb.Query(ctx, "renal function kidney", 3)
			if len(hits) == 0 || hits[0].Source != "renal" || hits[0].Score != 2.0/61 {
				t.Errorf("fused match: %+v", hits)
			}
			if s, _ := kb.Stats(); s.EmbedModel != "topics" {
				t.Errorf("embed model %q", s.EmbedModel)
			}
		})
	}
}

// TestSuiteUploads adds documents by content (the server's route): they are
// found, a second upload of a name replaces the first, and names that could
// reach a path or another document are refused.
func TestSuiteUploads(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			kb, _ := st.open(t, Options{MaxFileBytes: 100})
			rep, err := kb.AddDocs(ctx, []Upload{
				{Name: "sepsis.md", Data: []byte("# Sepsis\n\nGive antibiotics within one hour.\n")},
				{Name: "../etc/passwd.txt", Data: []byte("x")},
				{Name: "/abs.txt", Data: []byte("x")},
				{Name: "a.exe", Data: []byte("x")},
				{Name: "fake\nsource.txt", Data: []byte("x")},
				{Name: "big.txt", Data: []byte(strings.Repeat("y ", 100))},
			})
			if err != nil || len(rep.Added) != 1 || len(rep.Skipped) != 5 {
				t.Fatalf("upload: %+v %v", rep, err)
			}
			rep, err = kb.AddDocs(ctx, []Upload{{Name: "sepsis.md", Data: []byte("# Sepsis\n\nLactate above 2 mmol/L.\n")}})
			if err != nil || len(rep.Updated) != 1 {
				t.Fatalf("replace: %+v %v", rep, err)
			}
			if hits, _ := kb.Query(ctx, "antibiotics", 5); len(hits) != 0 {
				t.Errorf("replaced upload still found: %+v", hits)
			}
			hits, _ := kb.Query(ctx, "lactate", 5)
			if len(hits) != 1 || hits[0].Source != "sepsis.md" {
				t.Errorf("upload not found: %+v", hits)
			}
			if n, err := kb.Remove([]string{"upload:sepsis.md"}); n != 1 || err != nil {
				t.Errorf("remove upload: %d %v", n, err)
			}
			st.consistent(t, kb)
		})
	}
}

// TestSuiteConcurrentWriters has four writers (for PostgreSQL each on its
// own connection pool, as four servers) ingest at once, including the same
// file changed by each: every file ends up indexed once, the shared one in
// one writer's version whole, and the invariants hold.
func TestSuiteConcurrentWriters(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			kb, again := st.open(t, Options{})
			shared := filepath.Join(t.TempDir(), "shared.txt")
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for w := 0; w < 4; w++ {
				h := again()
				docs := t.TempDir()
				for i := 0; i < 10; i++ {
					writeFile(t, filepath.Join(docs, fmt.Sprintf("w%d-%d.txt", w, i)), fmt.Sprintf("writer%d document%d about hypertension.\n", w, i))
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 3; i++ {
						if _, err := h.Add(ctx, []string{docs}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			writeFile(t, shared, "version one of the shared protocol.\n")
			var wg2 sync.WaitGroup
			for w := 0; w < 4; w++ {
				h := again()
				wg2.Add(1)
				go func() {
					defer wg2.Done()
					if _, err := h.Add(ctx, []string{shared}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg2.Wait()
			files, err := kb.Files()
			if err != nil || len(files) != 41 {
				t.Fatalf("%d files, %v", len(files), err)
			}
			for w := 0; w < 4; w++ {
				for i := 0; i < 10; i++ {
					hits, err := kb.Query(ctx, fmt.Sprintf("writer%d document%d", w, i), 1)
					if err != nil || len(hits) != 1 || !strings.Contains(hits[0].Text, fmt.Sprintf("writer%d document%d ", w, i)) {
						t.Errorf("writer %d document %d: %+v %v", w, i, hits, err)
					}
				}
			}
			if hits, _ := kb.Query(ctx, "shared protocol", 5); len(hits) != 1 {
				t.Errorf("shared file indexed %d times", len(hits))
			}
			st.consistent(t, kb)
		})
	}
}

// TestSuiteKillDuringIngest runs an ingest in a child process, kills it with
// SIGKILL after its first batch is committed, and checks that the store
// holds every file either completely or not at all, that the invariants
// hold, and that the ingest resumes.
func TestSuiteKillDuringIngest(t *testing.T) {
	if os.Getenv("DAYI_KB_SUITE_CHILD") != "" {
		opt := Options{ChunkTokens: 32}
		var kb Base
		hook := func() { os.Stdout.WriteString("committed\n") }
		if pfx := os.Getenv("DAYI_KB_PREFIX"); pfx != "" {
			db, err := OpenPG(context.Background(), os.Getenv("DAYI_TEST_PG"), pfx)
			if err != nil {
				os.Exit(2)
			}
			k, err := db.Open(context.Background(), "guides", opt, false)
			if err != nil {
				os.Exit(2)
			}
			k.afterCommit = hook
			kb = k
		} else {
			k, err := Open(os.Getenv("DAYI_KB_DIR"), opt)
			if err != nil {
				os.Exit(2)
			}
			k.afterCommit = hook
			kb = k
		}
		_, _ = kb.Add(context.Background(), []string{os.Getenv("DAYI_KB_DOCS")})
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	docs := t.TempDir()
	for i := 0; i < 300; i++ {
		var b strings.Builder
		for j := 0; j < 40; j++ {
			b.WriteString("第" + itoa(i) + "号文件第" + itoa(j) + "句：患者血压控制良好，继续原方案治疗。\n")
		}
		writeFile(t, filepath.Join(docs, "f"+itoa(1000+i)+".txt"), b.String())
	}
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			env := []string{"DAYI_KB_SUITE_CHILD=1", "DAYI_KB_DOCS=" + docs}
			var reopen func() Base
			if st.name == "postgres" {
				dsn, prefix := testPG(t)
				env = append(env, "DAYI_KB_PREFIX="+prefix)
				reopen = func() Base {
					db, err := OpenPG(context.Background(), dsn, prefix)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(db.Close)
					k, err := db.Open(context.Background(), "guides", Options{ChunkTokens: 32}, true)
					if err != nil {
						t.Fatal(err)
					}
					return k
				}
			} else {
				dir := t.TempDir()
				env = append(env, "DAYI_KB_DIR="+dir)
				reopen = func() Base { return openKB(t, dir, Options{ChunkTokens: 32}) }
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteKillDuringIngest$")
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
				time.Sleep(20 * time.Millisecond)
			case <-time.After(60 * time.Second):
				t.Error("child committed nothing in 60 s")
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			kb := reopen()
			st.consistent(t, kb)
			files, err := kb.Files()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 || len(files) == 300 {
				t.Errorf("kill landed at %d of 300 files, not between batches", len(files))
			}
			for _, f := range files {
				if f.Chunks != files[0].Chunks {
					t.Errorf("%s has %d chunks, %s has %d: partially ingested", f.Source, f.Chunks, files[0].Source, files[0].Chunks)
				}
			}
			rep, err := kb.Add(context.Background(), []string{docs})
			if err != nil || len(rep.Unchanged) != len(files) || len(rep.Added) != 300-len(files) {
				t.Errorf("resume: unchanged %d added %d (had %d), err %v", len(rep.Unchanged), len(rep.Added), len(files), err)
			}
			st.consistent(t, kb)
			t.Logf("killed after %d files", len(files))
		})
	}
}

// TestSuiteLibrary runs the library's life cycle (open, list, retrieve
// within a budget, remove) on the directory and on PostgreSQL.
func TestSuiteLibrary(t *testing.T) {
	libs := []struct {
		name string
		lib  func(t *testing.T) *Library
	}{
		{"bolt", func(t *testing.T) *Library { return &Library{Dir: t.TempDir()} }},
		{"postgres", func(t *testing.T) *Library {
			dsn, prefix := testPG(t)
			db, err := OpenPG(context.Background(), dsn, prefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			return &Library{Dir: t.TempDir(), PG: db}
		}},
	}
	for _, l := range libs {
		t.Run(l.name, func(t *testing.T) {
			ctx := context.Background()
			lib := l.lib(t)
			if _, err := lib.Open("../x"); err == nil {
				t.Errorf("bad name accepted")
			}
			if _, err := lib.OpenReadOnly("guides"); err == nil {
				t.Errorf("missing knowledge base opened read-only")
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
			other, err := lib.Open("other")
			if err != nil {
				t.Fatal(err)
			}
			other.Close()
			if names, _ := lib.List(); !slices.Equal(names, []string{"guides", "other"}) {
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
			if ps, err := lib.Retrieve(ctx, "other", "warfarin", 80); err != nil || len(ps) != 0 {
				t.Errorf("another knowledge base's passages: %+v %v", ps, err)
			}
			if _, err := lib.Retrieve(ctx, "nope", "x", 100); err == nil {
				t.Errorf("missing kb accepted")
			}
			if err := lib.Remove("guides"); err != nil {
				t.Fatal(err)
			}
			if err := lib.Remove("guides"); err == nil {
				t.Errorf("removed twice")
			}
			if lib.PG != nil {
				var left int
				err := lib.PG.pool.QueryRow(ctx, lib.PG.sql(`SELECT (SELECT count(*) FROM {files} WHERE kb = 'guides') +
	(SELECT count(*) FROM {chunks} WHERE kb = 'guides') + (SELECT count(*) FROM {postings} WHERE kb = 'guides')`)).Scan(&left)
				if err != nil || left != 0 {
					t.Errorf("%d rows of the removed knowledge base left (%v)", left, err)
				}
			}
			if names, _ := lib.List(); !slices.Equal(names, []string{"other"}) {
				t.Errorf("after rm: %v", names)
			}
			if _, err := lib.Retrieve(ctx, "guides", "warfarin", 80); err == nil {
				t.Errorf("removed knowledge base still answers")
			}
		})
	}
}
