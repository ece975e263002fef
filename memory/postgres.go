package memory

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
CREATE INDEX IF NOT EXISTS %[1]s_patient ON %[1]s (patient, seq);
CREATE TABLE IF NOT EXISTS %[1]s_meta (
	name  text PRIMARY KEY,
	value text NOT NULL
);`, s.table))
		return err
	})
}

// sealedConstraint is the CHECK that keeps unsealed bodies out of a table
// marked encrypted, whichever client writes to it.
func (s *PGStore) sealedConstraint() string { return s.table + "_sealed" }

// EncryptionMark implements markedStore.
func (s *PGStore) EncryptionMark(ctx context.Context) (string, error) {
	var mark string
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT value FROM %s_meta WHERE name = 'encryption'`, s.table)).Scan(&mark)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("memory postgres: %w", err)
	}
	return mark, nil
}

// MarkEncrypted implements markedStore. Under the table's advisory lock it
// adds a CHECK constraint that every body is sealed (PostgreSQL validates
// the rows already there, and refuses unsealed rows from then on) and
// records the mark, in one transaction.
func (s *PGStore) MarkEncrypted(ctx context.Context, mark string) (string, error) {
	held := mark
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "dayi-memory:"+s.table); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT value FROM %s_meta WHERE name = 'encryption'`, s.table)).Scan(&held)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var plain bool
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE body NOT LIKE $1)`, s.table), encPrefix+"%").Scan(&plain); err != nil {
			return err
		}
		if plain {
			return ErrPlaintext
		}
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $2::regclass)`,
			s.sealedConstraint(), s.table).Scan(&has); err != nil {
			return err
		}
		if !has {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s CHECK (body LIKE '%s%%')`, s.table, s.sealedConstraint(), encPrefix)); err != nil {
				return err
			}
		}
		held = mark
		_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s_meta (name, value) VALUES ('encryption', $1)`, s.table), mark)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("memory postgres: marking encrypted: %w", err)
	}
	return held, nil
}

// plaintextError maps PostgreSQL's check_violation of the sealed
// constraint to ErrPlaintext.
func (s *PGStore) plaintextError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" && pe.ConstraintName == s.sealedConstraint() {
		return ErrPlaintext
	}
	return err
}

// Replace implements markedStore: one transaction deletes the patient's
// rows and inserts recs.
func (s *PGStore) Replace(ctx context.Context, patient string, recs []Record) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE patient = $1`, s.table), patient); err != nil {
			return err
		}
		return s.insert(ctx, tx, patient, recs)
	})
	if err != nil {
		return fmt.Errorf("memory postgres: rewriting a patient's records: %w", s.plaintextError(err))
	}
	return nil
}

// insert adds recs in tx. An unsealed record is refused when the table is
// marked encrypted even if its constraint was dropped; only then is the
// mark read, so sealed writes cost no extra query.
func (s *PGStore) insert(ctx context.Context, tx pgx.Tx, patient string, recs []Record) error {
	for _, r := range recs {
		if isSealed(r.Body) {
			continue
		}
		var marked bool
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s_meta WHERE name = 'encryption')`, s.table)).Scan(&marked); err != nil {
			return err
		}
		if marked {
			return ErrPlaintext
		}
		break
	}
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
}

// Append implements Store.
func (s *PGStore) Append(ctx context.Context, patient string, recs []Record) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.insert(ctx, tx, patient, recs) })
	if err != nil {
		return fmt.Errorf("memory postgres: %w", s.plaintextError(err))
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
		return nil, fmt.Errorf("memory postgres: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Seq, &r.Kind, &r.Time, &r.Key, &r.Body)
		r.Time = r.Time.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("memory postgres: %w", err)
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
		return fmt.Errorf("memory postgres: forget: %w", err)
	}
	return nil
}

// Close implements Store.
func (s *PGStore) Close() error {
	s.pool.Close()
	return nil
}

// DropTable removes the store's tables (used by tests and uninstalls).
func (s *PGStore) DropTable(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s; DROP TABLE IF EXISTS %[1]s_meta`, s.table)); err != nil {
		return fmt.Errorf("memory postgres: dropping %s: %w", s.table, err)
	}
	return nil
}
