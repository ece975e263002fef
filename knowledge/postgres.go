package knowledge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PG is the PostgreSQL database that holds the knowledge bases of several
// dayi servers (`dayi serve --kb-pg DSN`), so that a document added through
// one replica is found through every other.
//
// The tables (prefix_bases, _files, _chunks, _postings, _vectors) hold what
// the bbolt file holds: documents, chunks, the lexical index (one row per
// term and chunk: term frequency and chunk length) and dense vectors
// (real[]: float32 stored exactly). BM25 is computed in Go from the
// postings of the query's terms, not in SQL: the scoring is then the same
// code as the bbolt store's (scoreBM25), so the two stores rank one corpus
// identically down to the last bit of each score, and the terms are
// computed by the same analyser (Terms) on ingest and query. What crosses
// the wire is the postings of the few query terms; a term in every chunk
// costs one row per chunk, which for a hospital's guideline collection
// (10^4–10^5 chunks) is milliseconds.
//
// Writers serialise per knowledge base on a transaction-scoped advisory
// lock, so that chunk ids and the collection counters stay consistent with
// any number of servers ingesting at once; readers take a REPEATABLE READ
// snapshot and never wait.
type PG struct {
	pool   *pgxpool.Pool
	prefix string
}

var validPrefix = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// OpenPG connects to the database at dsn and creates the tables (named
// prefix_*, default "dayi_kb") if needed.
func OpenPG(ctx context.Context, dsn, prefix string) (*PG, error) {
	if prefix == "" {
		prefix = "dayi_kb"
	}
	if !validPrefix.MatchString(prefix) {
		return nil, fmt.Errorf("knowledge postgres: invalid table prefix %q", prefix)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("knowledge postgres: %w", err)
	}
	db := &PG{pool: pool, prefix: prefix}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("knowledge postgres: creating tables %s_*: %w", prefix, err)
	}
	return db, nil
}

// Close closes the connections.
func (db *PG) Close() { db.pool.Close() }

// t names one of the tables.
func (db *PG) t(name string) string { return db.prefix + "_" + name }

// sql expands {bases}, {files}, … in q to the table names.
func (db *PG) sql(q string) string {
	for _, n := range []string{"bases", "files", "chunks", "postings", "vectors", "reembed"} {
		q = strings.ReplaceAll(q, "{"+n+"}", db.t(n))
	}
	return q
}

// migrate creates the tables under an advisory lock: CREATE TABLE IF NOT
// EXISTS from several servers starting together can still collide in
// PostgreSQL's catalogue.
func (db *PG) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "dayi-kb:"+db.prefix); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, db.sql(`
CREATE TABLE IF NOT EXISTS {bases} (
	name        text PRIMARY KEY,
	format      text NOT NULL,
	next_id     bigint NOT NULL DEFAULT 0,
	chunks      bigint NOT NULL DEFAULT 0,
	total_len   bigint NOT NULL DEFAULT 0,
	embed_model text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS {files} (
	kb       text NOT NULL REFERENCES {bases} (name) ON DELETE CASCADE,
	path     text NOT NULL,
	source   text NOT NULL,
	hash     text NOT NULL,
	settings text NOT NULL,
	size     bigint NOT NULL,
	chunks   bigint[] NOT NULL,
	added    timestamptz NOT NULL,
	PRIMARY KEY (kb, path)
);
CREATE TABLE IF NOT EXISTS {chunks} (
	kb       text NOT NULL REFERENCES {bases} (name) ON DELETE CASCADE,
	id       bigint NOT NULL,
	source   text NOT NULL,
	title    text NOT NULL,
	location text NOT NULL,
	heading  text NOT NULL,
	tokens   integer NOT NULL,
	terms    integer NOT NULL,
	body     text NOT NULL,
	PRIMARY KEY (kb, id)
);
CREATE TABLE IF NOT EXISTS {postings} (
	kb    text NOT NULL,
	term  text NOT NULL,
	chunk bigint NOT NULL,
	tf    integer NOT NULL,
	dl    integer NOT NULL,
	PRIMARY KEY (kb, term, chunk),
	FOREIGN KEY (kb, chunk) REFERENCES {chunks} (kb, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS {postings}_chunk ON {postings} (kb, chunk);
CREATE TABLE IF NOT EXISTS {vectors} (
	kb    text NOT NULL,
	chunk bigint NOT NULL,
	vec   real[] NOT NULL,
	PRIMARY KEY (kb, chunk),
	FOREIGN KEY (kb, chunk) REFERENCES {chunks} (kb, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS {reembed} (
	kb    text NOT NULL,
	chunk bigint NOT NULL,
	model text NOT NULL,
	vec   real[] NOT NULL,
	PRIMARY KEY (kb, chunk),
	FOREIGN KEY (kb, chunk) REFERENCES {chunks} (kb, id) ON DELETE CASCADE
);`))
		return err
	})
}

// List returns the names of the knowledge bases, sorted.
func (db *PG) List(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, db.sql(`SELECT name FROM {bases} ORDER BY name COLLATE "C"`))
	if err != nil {
		return nil, fmt.Errorf("knowledge postgres: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Remove deletes knowledge base name with everything in it.
func (db *PG) Remove(ctx context.Context, name string) error {
	tag, err := db.pool.Exec(ctx, db.sql(`DELETE FROM {bases} WHERE name = $1`), name)
	if err != nil {
		return fmt.Errorf("knowledge postgres: removing %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("knowledge base %q not found in PostgreSQL", name)
	}
	return nil
}

// Open opens knowledge base name, creating it unless mustExist.
func (db *PG) Open(ctx context.Context, name string, opt Options, mustExist bool) (*PGKB, error) {
	opt.defaults()
	var format string
	err := db.pool.QueryRow(ctx, db.sql(`SELECT format FROM {bases} WHERE name = $1`), name).Scan(&format)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && mustExist:
		return nil, fmt.Errorf("knowledge base %q not found in PostgreSQL", name)
	case errors.Is(err, pgx.ErrNoRows):
		format = formatVersion
		_, err = db.pool.Exec(ctx, db.sql(`INSERT INTO {bases} (name, format) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`), name, formatVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("knowledge base %q: %w", name, err)
	}
	if format != formatVersion {
		return nil, fmt.Errorf("knowledge base %q: format %q, this dayi reads %q", name, format, formatVersion)
	}
	return &PGKB{db: db, name: name, opt: opt}, nil
}

// PGKB is one knowledge base in PostgreSQL. It holds no connection of its
// own: Close is a no-op, the PG it came from owns the pool.
type PGKB struct {
	db   *PG
	name string
	opt  Options

	afterCommit func() // test hook: called after each committed batch
}

// Close implements Base.
func (k *PGKB) Close() error { return nil }

// Add implements Base.
func (k *PGKB) Add(ctx context.Context, paths []string) (*Report, error) {
	return add(ctx, k, &k.opt, paths, nil)
}

// AddDocs implements Base.
func (k *PGKB) AddDocs(ctx context.Context, docs []Upload) (*Report, error) {
	return add(ctx, k, &k.opt, nil, docs)
}

// lock serialises the writers of this knowledge base, in all servers,
// until tx ends.
func (k *PGKB) lock(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "dayi-kb:"+k.db.prefix+":"+k.name)
	return err
}

func (k *PGKB) fileRecord(ctx context.Context, abs string) (*fileRecord, error) {
	return k.getFileRecord(ctx, k.db.pool, abs)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (k *PGKB) getFileRecord(ctx context.Context, q querier, abs string) (*fileRecord, error) {
	rec := new(fileRecord)
	var ids []int64
	err := q.QueryRow(ctx, k.db.sql(`SELECT source, hash, settings, size, chunks, added FROM {files} WHERE kb = $1 AND path = $2`), k.name, abs).
		Scan(&rec.Source, &rec.Hash, &rec.Settings, &rec.Size, &ids, &rec.Added)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file record %s: %w", abs, err)
	}
	for _, id := range ids {
		rec.Chunks = append(rec.Chunks, uint64(id))
	}
	return rec, nil
}

func (k *PGKB) checkEmbedder(ctx context.Context) error {
	if k.opt.Embedder == nil {
		return nil
	}
	name := k.opt.Embedder.Name()
	return pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		if err := k.lock(ctx, tx); err != nil {
			return err
		}
		var have string
		var chunks int64
		if err := tx.QueryRow(ctx, k.db.sql(`SELECT embed_model, chunks FROM {bases} WHERE name = $1`), k.name).Scan(&have, &chunks); err != nil {
			return fmt.Errorf("knowledge base %q: %w", k.name, err)
		}
		switch {
		case have == name:
			return nil
		case have != "":
			return fmt.Errorf("%w: knowledge base was embedded with %q, not %q: remove it and add again to change models", ErrEmbedMismatch, have, name)
		case chunks > 0:
			return fmt.Errorf("knowledge base has chunks without embeddings: remove it and add again with --embed-model %s", name)
		}
		_, err := tx.Exec(ctx, k.db.sql(`UPDATE {bases} SET embed_model = $2 WHERE name = $1`), k.name, name)
		return err
	})
}

// commit writes a batch of files in one transaction, under the knowledge
// base's lock: each file replaces the chunks of its previous version, read
// again inside the transaction (another server may have replaced it since
// prepare looked).
func (k *PGKB) commit(ctx context.Context, batch []*prepared, settings string, rep *Report) error {
	updated := make([]bool, len(batch))
	err := pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		if err := k.lock(ctx, tx); err != nil {
			return err
		}
		if e := k.opt.Embedder; e != nil {
			// a re-embed may have switched the model since checkEmbedder
			var have string
			if err := tx.QueryRow(ctx, k.db.sql(`SELECT embed_model FROM {bases} WHERE name = $1`), k.name).Scan(&have); err != nil {
				return fmt.Errorf("knowledge base %q: %w", k.name, err)
			}
			if have != e.Name() {
				return fmt.Errorf("%w: knowledge base is now embedded with %q, not %q", ErrEmbedMismatch, have, e.Name())
			}
		}
		nChunks := 0
		for _, p := range batch {
			nChunks += len(p.chunks)
		}
		var next int64
		if err := tx.QueryRow(ctx, k.db.sql(`UPDATE {bases} SET next_id = next_id + $2 WHERE name = $1 RETURNING next_id - $2`), k.name, nChunks).Scan(&next); err != nil {
			return fmt.Errorf("knowledge base %q: %w", k.name, err)
		}
		var chunkRows, postRows, vecRows [][]any
		var addChunks, addLen int64
		for bi, p := range batch {
			old, err := k.getFileRecord(ctx, tx, p.c.abs)
			if err != nil {
				return err
			}
			if old != nil {
				updated[bi] = true
				if err := k.deleteChunks(ctx, tx, old.Chunks); err != nil {
					return err
				}
			}
			ids := make([]int64, 0, len(p.chunks))
			for i, ch := range p.chunks {
				next++ // ids start at 1 and are never reused, as bbolt's NextSequence
				id := next
				ids = append(ids, id)
				tf, n := termCounts(indexText(ch.Title, ch.Heading, ch.Text))
				chunkRows = append(chunkRows, []any{k.name, id, ch.Source, ch.Title, ch.Location, ch.Heading, ch.Tokens, n, ch.Text})
				for t, c := range tf {
					postRows = append(postRows, []any{k.name, t, id, c, n})
				}
				if p.vecs != nil {
					vecRows = append(vecRows, []any{k.name, id, p.vecs[i]})
				}
				addChunks++
				addLen += int64(n)
			}
			_, err = tx.Exec(ctx, k.db.sql(`INSERT INTO {files} (kb, path, source, hash, settings, size, chunks, added)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (kb, path) DO UPDATE SET source = $3, hash = $4, settings = $5, size = $6, chunks = $7, added = $8`),
				k.name, p.c.abs, p.c.path, p.hash, settings, p.c.size, ids, time.Now().UTC())
			if err != nil {
				return err
			}
		}
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"chunks", []string{"kb", "id", "source", "title", "location", "heading", "tokens", "terms", "body"}, chunkRows},
			{"postings", []string{"kb", "term", "chunk", "tf", "dl"}, postRows},
			{"vectors", []string{"kb", "chunk", "vec"}, vecRows},
		} {
			if len(c.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{k.db.t(c.table)}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("writing %s: %w", c.table, err)
			}
		}
		_, err := tx.Exec(ctx, k.db.sql(`UPDATE {bases} SET chunks = chunks + $2, total_len = total_len + $3 WHERE name = $1`), k.name, addChunks, addLen)
		return err
	})
	if err != nil {
		return fmt.Errorf("kb add %s…: %w", batch[0].c.path, err)
	}
	if k.afterCommit != nil {
		k.afterCommit()
	}
	for bi, p := range batch {
		if updated[bi] {
			rep.Updated = append(rep.Updated, p.c.path)
		} else {
			rep.Added = append(rep.Added, p.c.path)
		}
		rep.Chunks += len(p.chunks)
	}
	return nil
}

// deleteChunks removes chunks (their postings and vectors go with them, ON
// DELETE CASCADE) and takes them off the counters.
func (k *PGKB) deleteChunks(ctx context.Context, tx pgx.Tx, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	ii := make([]int64, len(ids))
	for i, id := range ids {
		ii[i] = int64(id)
	}
	_, err := tx.Exec(ctx, k.db.sql(`
WITH gone AS (DELETE FROM {chunks} WHERE kb = $1 AND id = ANY($2) RETURNING terms)
UPDATE {bases} SET chunks = chunks - (SELECT count(*) FROM gone), total_len = total_len - (SELECT coalesce(sum(terms), 0) FROM gone)
WHERE name = $1`), k.name, ii)
	return err
}

// Remove implements Base: the given files, or every file under a given
// directory; an uploaded document by its name with the upload: prefix.
func (k *PGKB) Remove(paths []string) (int, error) {
	ctx := context.Background()
	removed := 0
	err := pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		if err := k.lock(ctx, tx); err != nil {
			return err
		}
		removed = 0
		for _, p := range paths {
			abs, err := removeKey(p)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, k.db.sql(`SELECT path, chunks FROM {files} WHERE kb = $1 AND starts_with(path, $2)`), k.name, abs)
			if err != nil {
				return err
			}
			type victim struct {
				path string
				ids  []int64
			}
			vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (victim, error) {
				var v victim
				return v, r.Scan(&v.path, &v.ids)
			})
			if err != nil {
				return err
			}
			for _, v := range vs {
				if len(v.path) > len(abs) && v.path[len(abs)] != filepath.Separator {
					continue
				}
				ids := make([]uint64, len(v.ids))
				for i, id := range v.ids {
					ids[i] = uint64(id)
				}
				if err := k.deleteChunks(ctx, tx, ids); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, k.db.sql(`DELETE FROM {files} WHERE kb = $1 AND path = $2`), k.name, v.path); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("kb rm: %w", err)
	}
	return removed, nil
}

// removeKey is the file-table key Remove looks for: an absolute path, or an
// upload's name as stored.
func removeKey(p string) (string, error) {
	if strings.HasPrefix(p, uploadPrefix) {
		return p, nil
	}
	return filepath.Abs(p)
}

// Files implements Base.
func (k *PGKB) Files() ([]FileInfo, error) {
	rows, err := k.db.pool.Query(context.Background(), k.db.sql(
		`SELECT source, path, cardinality(chunks), size, added FROM {files} WHERE kb = $1 ORDER BY path COLLATE "C"`), k.name)
	if err != nil {
		return nil, fmt.Errorf("knowledge base %q: %w", k.name, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FileInfo, error) {
		var f FileInfo
		err := r.Scan(&f.Source, &f.Path, &f.Chunks, &f.Size, &f.Added)
		f.Added = f.Added.UTC()
		return f, err
	})
}

// Stats implements Base; Bytes is the chunk text held in the database.
func (k *PGKB) Stats() (Stats, error) {
	var s Stats
	err := k.db.pool.QueryRow(context.Background(), k.db.sql(`SELECT
	(SELECT count(*) FROM {files} WHERE kb = $1), b.chunks, b.embed_model,
	(SELECT coalesce(sum(octet_length(body)), 0) FROM {chunks} WHERE kb = $1)
FROM {bases} b WHERE b.name = $1`), k.name).Scan(&s.Files, &s.Chunks, &s.EmbedModel, &s.Bytes)
	if err != nil {
		return s, fmt.Errorf("knowledge base %q: %w", k.name, err)
	}
	return s, nil
}

// Query implements Base, as KB.Query: BM25 alone, or fused with dense
// similarity, from one REPEATABLE READ snapshot so that a concurrent ingest
// is seen wholly or not at all.
func (k *PGKB) Query(ctx context.Context, query string, kk int) ([]Hit, error) {
	if kk <= 0 {
		kk = 5
	}
	var hits []Hit
	err := pgx.BeginTxFunc(ctx, k.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var n, totalLen int64
		var embedModel string
		if err := tx.QueryRow(ctx, k.db.sql(`SELECT chunks, total_len, embed_model FROM {bases} WHERE name = $1`), k.name).Scan(&n, &totalLen, &embedModel); err != nil {
			return err
		}
		var qv []float32
		if e := k.opt.Embedder; e != nil {
			if embedModel != e.Name() {
				return fmt.Errorf("%w: query with %q, knowledge base embedded with %q", ErrEmbedMismatch, e.Name(), embedModel)
			}
			v, err := e.Embed(ctx, query)
			if err != nil {
				return fmt.Errorf("embedding the query: %w", err)
			}
			qv = v
		}
		qtf, _ := termCounts(query)
		terms := make([]string, 0, len(qtf))
		for t := range qtf {
			terms = append(terms, t)
		}
		posts := map[string][]posting{}
		rows, err := tx.Query(ctx, k.db.sql(`SELECT term, chunk, tf, dl FROM {postings} WHERE kb = $1 AND term = ANY($2)`), k.name, terms)
		if err != nil {
			return err
		}
		var term string
		var id int64
		var tf, dl int32
		if _, err := pgx.ForEachRow(rows, []any{&term, &id, &tf, &dl}, func() error {
			posts[term] = append(posts[term], posting{uint64(id), float64(tf), float64(dl)})
			return nil
		}); err != nil {
			return err
		}
		depth := kk
		if qv != nil {
			depth = fuseDepth
		}
		ranked := scoreBM25(float64(n), float64(totalLen), query, depth, func(t string) []posting { return posts[t] })
		if qv != nil {
			scores := map[uint64]float64{}
			rows, err := tx.Query(ctx, k.db.sql(`SELECT chunk, vec FROM {vectors} WHERE kb = $1`), k.name)
			if err != nil {
				return err
			}
			var vec []float32
			if _, err := pgx.ForEachRow(rows, []any{&id, &vec}, func() error {
				if len(vec) == len(qv) {
					scores[uint64(id)] = dot(qv, vec)
				}
				return nil
			}); err != nil {
				return err
			}
			ranked = fuse(kk, ranked, topK(scores, fuseDepth))
		}
		if len(ranked) == 0 {
			return nil
		}
		ids := make([]int64, len(ranked))
		for i, s := range ranked {
			ids[i] = int64(s.id)
		}
		rows, err = tx.Query(ctx, k.db.sql(`SELECT id, source, title, location, body FROM {chunks} WHERE kb = $1 AND id = ANY($2)`), k.name, ids)
		if err != nil {
			return err
		}
		byID := map[int64]Passage{}
		var p Passage
		if _, err := pgx.ForEachRow(rows, []any{&id, &p.Source, &p.Title, &p.Location, &p.Text}, func() error {
			p.ID = int(id)
			byID[id] = p
			return nil
		}); err != nil {
			return err
		}
		for _, s := range ranked {
			if p, ok := byID[int64(s.id)]; ok {
				hits = append(hits, Hit{Passage: p, Score: s.score})
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrEmbedMismatch) {
			return nil, err
		}
		return nil, fmt.Errorf("knowledge base %q: %w", k.name, err)
	}
	return hits, nil
}

// dot is the similarity of two normalised vectors, summed in float64 in
// index order as scoreVec does for the bbolt store.
func dot(q, v []float32) float64 {
	var s float64
	for i, x := range q {
		s += float64(x) * float64(v[i])
	}
	return s
}
