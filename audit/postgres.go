package audit

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL audit log (dayi serve --audit-pg DSN) is the file log's
// sealed chain in two tables, so that several replicas write one chain:
//
//	TABLE        (seq bigint PRIMARY KEY, line text): each record's line,
//	             byte for byte the line the file log would hold
//	TABLE_head   (one row: seq, last, time, mac): the signed head
//
// An append is one transaction that locks the head row (SELECT … FOR
// UPDATE), so writers on every replica queue behind each other; it reads
// the last sequence number and MAC from the head, inserts the next record
// and moves the head. The head is therefore never behind, and a crash
// leaves the transaction undone, never a torn record.
//
// The records table takes no UPDATE, DELETE or TRUNCATE: triggers refuse
// them whoever asks (the owner too, until an administrator drops the
// trigger), and GrantPG gives dayi's own role only SELECT and INSERT on it
// (and SELECT, UPDATE on the head). What the seal still cannot show is the
// same as for the file: an administrator who can delete rows and holds an
// old head row can roll the log back; ship heads elsewhere if that matters.

var validTable = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,50}$`)

// DefaultPGTable is the table of the PostgreSQL audit log.
const DefaultPGTable = "dayi_audit"

// pgLog is the PostgreSQL side of a Logger.
type pgLog struct {
	pool  *pgxpool.Pool
	table string
}

func (p *pgLog) head() string { return p.table + "_head" }

// migratePG creates the tables, the triggers that refuse changes, and the
// genesis head, unless they exist. It checks for the tables first, so that
// a role that may not create tables (dayi's, when an administrator made
// them) opens an existing log.
func migratePG(ctx context.Context, pool *pgxpool.Pool, table string, key *Key) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "dayi-audit:"+table); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL`, table, table+"_head").Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	seq  bigint PRIMARY KEY,
	line text NOT NULL
);
CREATE TABLE IF NOT EXISTS %[1]s_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	last text NOT NULL,
	time text NOT NULL,
	mac  text NOT NULL
);
CREATE OR REPLACE FUNCTION %[1]s_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit log %[1]s is append-only: %% refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS %[1]s_append_only ON %[1]s;
CREATE TRIGGER %[1]s_append_only BEFORE UPDATE OR DELETE ON %[1]s FOR EACH ROW EXECUTE FUNCTION %[1]s_append_only();
DROP TRIGGER IF EXISTS %[1]s_no_truncate ON %[1]s;
CREATE TRIGGER %[1]s_no_truncate BEFORE TRUNCATE ON %[1]s FOR EACH STATEMENT EXECUTE FUNCTION %[1]s_append_only();`, table))
		if err != nil {
			return err
		}
		h := head{Seq: 0, Last: genesis, Time: time.Now().UTC().Format(time.RFC3339Nano)}
		h.MAC = hex.EncodeToString(h.mac(key))
		_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s_head (id, seq, last, time, mac) VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`, table),
			int64(h.Seq), h.Last, h.Time, h.MAC)
		return err
	})
}

// GrantPG gives role what dayi serve needs of the log in table and nothing
// more: SELECT and INSERT on the records, SELECT and UPDATE on the head.
// Run it as the tables' owner (an administrator), then let dayi connect as
// role.
func GrantPG(ctx context.Context, dsn, table, role string) error {
	if table == "" {
		table = DefaultPGTable
	}
	if !validTable.MatchString(table) {
		return fmt.Errorf("audit postgres: invalid table name %q", table)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("audit postgres: %w", err)
	}
	defer conn.Close(ctx)
	r := pgx.Identifier{role}.Sanitize()
	_, err = conn.Exec(ctx, fmt.Sprintf(`
REVOKE ALL ON %[1]s, %[1]s_head FROM %[2]s;
GRANT SELECT, INSERT ON %[1]s TO %[2]s;
GRANT SELECT, UPDATE ON %[1]s_head TO %[2]s;`, table, r))
	if err != nil {
		return fmt.Errorf("audit postgres: granting %s: %w", role, err)
	}
	return nil
}

// OpenPG opens the audit log in PostgreSQL at dsn (table "" for
// DefaultPGTable), creating it if needed, and verifies it as Open verifies
// a file: a log that does not verify is refused.
func OpenPG(ctx context.Context, dsn, table string, key *Key, content bool) (*Logger, error) {
	if key == nil {
		return nil, errors.New("audit postgres: no key")
	}
	if table == "" {
		table = DefaultPGTable
	}
	if !validTable.MatchString(table) {
		return nil, fmt.Errorf("audit postgres: invalid table name %q", table)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("audit postgres: %w", err)
	}
	if err := migratePG(ctx, pool, table, key); err != nil {
		pool.Close()
		return nil, fmt.Errorf("audit postgres: creating %s: %w", table, err)
	}
	p := &pgLog{pool: pool, table: table}
	rep, err := p.verify(ctx, key)
	if err == nil && rep.Problem != nil {
		err = fmt.Errorf("%w; refusing to append until an operator has checked it (dayi audit verify --pg DSN)", rep.Problem)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("audit postgres %s: %w", table, err)
	}
	return &Logger{path: "postgres:" + table, pg: p, key: key, seq: rep.Records, prev: rep.Last, content: content, now: time.Now}, nil
}

// VerifyPG checks the audit log in table (default DefaultPGTable) as
// VerifyFile checks a file: every record's MAC, sequence number and link
// in sequence-number order, then the signed head row.
func VerifyPG(ctx context.Context, dsn, table string, key *Key) (Report, error) {
	if table == "" {
		table = DefaultPGTable
	}
	if !validTable.MatchString(table) {
		return Report{}, fmt.Errorf("audit postgres: invalid table name %q", table)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return Report{}, fmt.Errorf("audit postgres: %w", err)
	}
	defer pool.Close()
	p := &pgLog{pool: pool, table: table}
	rep, err := p.verify(ctx, key)
	if err != nil {
		return rep, err
	}
	if rep.Problem != nil {
		return rep, rep.Problem
	}
	return rep, nil
}

// verify reads the head row and streams the records, in sequence-number
// order, into the file log's verifier as the lines of a file.
func (p *pgLog) verify(ctx context.Context, key *Key) (Report, error) {
	rep := Report{File: "postgres:" + p.table, Last: genesis}
	var h head
	var seq int64
	err := p.pool.QueryRow(ctx, fmt.Sprintf(`SELECT seq, last, time, mac FROM %s WHERE id = 1`, p.head())).Scan(&seq, &h.Last, &h.Time, &h.MAC)
	var hp *head
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// no head row: verify reports records without a head as cut
	case err != nil:
		return rep, fmt.Errorf("audit postgres %s: %w", p.head(), err)
	default:
		h.Seq = uint64(seq)
		got, derr := hex.DecodeString(h.MAC)
		if derr != nil || !hmac.Equal(got, h.mac(key)) {
			rep.Problem = &VerifyError{Kind: KindHead, Reason: fmt.Sprintf("head row of %s is not signed with this key (rewritten without the key, or the wrong --key)", p.table)}
			return rep, nil
		}
		hp = &h
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		rows, err := p.pool.Query(ctx, fmt.Sprintf(`SELECT line FROM %s ORDER BY seq`, p.table))
		if err == nil {
			bw := bufio.NewWriterSize(pw, 64<<10)
			var line string
			_, err = pgx.ForEachRow(rows, []any{&line}, func() error {
				if _, err := bw.WriteString(line); err != nil {
					return err
				}
				return bw.WriteByte('\n')
			})
			if err == nil {
				err = bw.Flush()
			}
		}
		pw.CloseWithError(err)
		done <- err
	}()
	rep = verify(pr, hp, key)
	pr.Close() // verify reads to the end unless reading failed
	if err := <-done; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return rep, fmt.Errorf("audit postgres %s: reading records: %w", p.table, err)
	}
	rep.File = "postgres:" + p.table
	return rep, nil
}

// appendPG is Append for a PostgreSQL log: one transaction locks the head
// row, inserts the next record and moves the head.
func (l *Logger) appendPG(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return l.broken
	}
	if r.Time.IsZero() {
		r.Time = l.now().UTC()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seq uint64
	var last string
	err := pgx.BeginFunc(ctx, l.pg.pool, func(tx pgx.Tx) error {
		var hseq int64
		var hlast string
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT seq, last FROM %s WHERE id = 1 FOR UPDATE`, l.pg.head())).Scan(&hseq, &hlast); err != nil {
			return fmt.Errorf("head row: %w", err)
		}
		r.Seq, r.Prev = uint64(hseq)+1, hlast
		body, err := json.Marshal(r)
		if err != nil {
			return err
		}
		m := hex.EncodeToString(mac(l.key.chain, body))
		line := make([]byte, 0, len(body)+80)
		line = append(line, linePrefix...)
		line = append(line, m...)
		line = append(line, `",`...)
		line = append(line, body[1:]...)
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (seq, line) VALUES ($1, $2)`, l.pg.table), int64(r.Seq), string(line)); err != nil {
			return err
		}
		h := head{Seq: r.Seq, Last: m, Time: l.now().UTC().Format(time.RFC3339Nano)}
		h.MAC = hex.EncodeToString(h.mac(l.key))
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET seq = $1, last = $2, time = $3, mac = $4 WHERE id = 1`, l.pg.head()),
			int64(h.Seq), h.Last, h.Time, h.MAC); err != nil {
			return err
		}
		seq, last = r.Seq, m
		return nil
	})
	if err != nil {
		l.failed = fmt.Errorf("audit record: %w: %w", ErrUnavailable, err)
		l.unhealthy.Store(true)
		return l.failed
	}
	l.seq, l.prev = seq, last
	l.failed = nil
	l.unhealthy.Store(false)
	return nil
}

// readyPG is Ready for a PostgreSQL log: the database answers again.
func (l *Logger) readyPG() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return l.broken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.pg.pool.Ping(ctx); err != nil {
		l.failed = fmt.Errorf("audit log %s: %w: %w", l.path, ErrUnavailable, err)
		return l.failed
	}
	l.failed = nil
	l.unhealthy.Store(false)
	return nil
}
