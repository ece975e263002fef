package knowledge

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL re-embed sets its vectors aside in prefix_reembed (tagged
// with the model, removed with their chunk by foreign key) while the other
// servers go on querying the old ones; the swap takes the knowledge base's
// writer lock, so that no ingest commits between the check that every chunk
// has a new vector and the switch of the recorded model.

func (k *PGKB) reembedPending(ctx context.Context, model string) ([]pendingChunk, int, string, error) {
	var todo []pendingChunk
	var done int
	var from string
	err := pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, k.db.sql(`SELECT embed_model FROM {bases} WHERE name = $1`), k.name).Scan(&from); err != nil {
			return fmt.Errorf("knowledge base %q: %w", k.name, err)
		}
		if _, err := tx.Exec(ctx, k.db.sql(`DELETE FROM {reembed} WHERE kb = $1 AND model <> $2`), k.name, model); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, k.db.sql(`SELECT count(*) FROM {reembed} WHERE kb = $1`), k.name).Scan(&done); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, k.db.sql(`SELECT c.id, c.title, c.heading, c.body FROM {chunks} c
WHERE c.kb = $1 AND NOT EXISTS (SELECT 1 FROM {reembed} r WHERE r.kb = $1 AND r.chunk = c.id) ORDER BY c.id`), k.name)
		if err != nil {
			return err
		}
		var id int64
		var title, heading, body string
		_, err = pgx.ForEachRow(rows, []any{&id, &title, &heading, &body}, func() error {
			todo = append(todo, pendingChunk{id: uint64(id), text: indexText(title, heading, body)})
			return nil
		})
		return err
	})
	return todo, done, from, err
}

func (k *PGKB) reembedPut(ctx context.Context, model string, ids []uint64, vecs [][]float32) error {
	b := &pgx.Batch{}
	for i, id := range ids {
		// a chunk removed meanwhile is passed over rather than failing
		// the foreign key
		b.Queue(k.db.sql(`INSERT INTO {reembed} (kb, chunk, model, vec)
SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM {chunks} WHERE kb = $1 AND id = $2)
ON CONFLICT (kb, chunk) DO UPDATE SET model = $3, vec = $4`), k.name, int64(id), model, vecs[i])
	}
	err := pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err == nil && k.afterCommit != nil {
		k.afterCommit()
	}
	return err
}

func (k *PGKB) reembedSwap(ctx context.Context, model string) (missing, chunks int, err error) {
	err = pgx.BeginFunc(ctx, k.db.pool, func(tx pgx.Tx) error {
		if err := k.lock(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, k.db.sql(`SELECT
	(SELECT count(*) FROM {chunks} c WHERE c.kb = $1 AND NOT EXISTS (SELECT 1 FROM {reembed} r WHERE r.kb = $1 AND r.chunk = c.id AND r.model = $2)),
	(SELECT count(*) FROM {chunks} WHERE kb = $1)`), k.name, model).Scan(&missing, &chunks); err != nil {
			return err
		}
		if missing > 0 {
			return nil
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM {vectors} WHERE kb = $1`, []any{k.name}},
			{`INSERT INTO {vectors} (kb, chunk, vec) SELECT kb, chunk, vec FROM {reembed} WHERE kb = $1 AND model = $2`, []any{k.name, model}},
			{`DELETE FROM {reembed} WHERE kb = $1`, []any{k.name}},
			{`UPDATE {bases} SET embed_model = $2 WHERE name = $1`, []any{k.name, model}},
			{`UPDATE {files} SET settings = regexp_replace(settings, ';embed=.*$', '') || ';embed=' || $2 WHERE kb = $1`, []any{k.name, model}},
		} {
			if _, err := tx.Exec(ctx, k.db.sql(q.sql), q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || missing > 0 {
		chunks = 0
	}
	return missing, chunks, err
}
