package memory

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore keeps memory in PostgreSQL, for hospitals that run several dayi
// servers against one database. Records are rows of one table; the unique
// index on (patient, key) makes a fact recorded by two servers at once
// appear once.
type PGStore struct {
	pool  *pgxpool.Pool
	table string
}

var validTable = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// OpenPG connects to the database at dsn (a PostgreSQL URL or key=value
// string) and creates the table if needed. table defaults to "dayi_memory".
func OpenPG(ctx context.Context, dsn, table string) (*PGStore, error) {
	if table == "" {
		table = "dayi_memory"
	}
	if !validTable.MatchString(table) {
		return nil, fmt.Errorf("memory postgres: invalid table name %q", table)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("memory postgres: %w", err)
	}
	s := &PGStore{pool: pool, table: table}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("memory postgres: creating table %s: %w", table, err)
	}
	return s, nil
}

// migrate creates the table under an advisory lock, because concurrent
// CREATE TABLE IF NOT EXISTS from several servers starting together can
// still collide in PostgreSQL's catalogue.
func (s *PGStore) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "dayi-memory:"+s.table); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	seq     bigserial PRIMARY KEY,
	patient text NOT NULL,
	kind    text NOT NULL,
	at      timestamptz NOT NULL,
	key     text,
	body    text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS %[1]s_key ON %[1]s (patient, key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS %[1]s_patient ON %[1]s (patient, seq);`, s.table))
		return err
	})
}

// Append implements Store.
func (s *PGStore) Append(ctx context.Context, patient string, recs []Record) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, r := range recs {
			var key any
			if r.Key != "" {
				key = r.Key
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (patient, kind, at, key, body) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (patient, key) WHERE key IS NOT NULL DO NOTHING`, s.table), patient, r.Kind, r.Time.UTC(), key, r.Body)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("memory postgres: patient %q: %w", patient, err)
	}
	return nil
}

// List implements Store.
func (s *PGStore) List(ctx context.Context, patient string) ([]Record, error) {
	if err := checkPatient(patient); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT seq, kind, at, coalesce(key, ''), body FROM %s WHERE patient = $1 ORDER BY seq`, s.table), patient)
	if err != nil {
		return nil, fmt.Errorf("memory postgres: patient %q: %w", patient, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Seq, &r.Kind, &r.Time, &r.Key, &r.Body)
		r.Time = r.Time.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("memory postgres: patient %q: %w", patient, err)
	}
	return out, nil
}

// Patients implements Store.
func (s *PGStore) Patients(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT DISTINCT patient FROM %s ORDER BY patient`, s.table))
	if err != nil {
		return nil, fmt.Errorf("memory postgres: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Forget implements Store. The rows are deleted; PostgreSQL reclaims their
// space at the next VACUUM (autovacuum), after which the text is gone from
// the table files. Use encryption at rest for stronger guarantees.
func (s *PGStore) Forget(ctx context.Context, patient string) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE patient = $1`, s.table), patient); err != nil {
		return fmt.Errorf("memory postgres: forget %q: %w", patient, err)
	}
	return nil
}

// Close implements Store.
func (s *PGStore) Close() error {
	s.pool.Close()
	return nil
}

// DropTable removes the store's table (used by tests and uninstalls).
func (s *PGStore) DropTable(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, s.table)); err != nil {
		return fmt.Errorf("memory postgres: dropping %s: %w", s.table, err)
	}
	return nil
}
