package audit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgTable returns $DAYI_TEST_PG and a fresh table name whose tables are
// dropped after the test, or skips the test without a server.
func pgTable(t *testing.T) (dsn, table string) {
	t.Helper()
	dsn = os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	table = fmt.Sprintf("audit_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		pgExec(t, dsn, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s, %[1]s_head; DROP FUNCTION IF EXISTS %[1]s_append_only()`, table))
	})
	return dsn, table
}

func pgExec(t *testing.T, dsn, sql string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// tamper runs sql as the administrator with the append-only triggers
// switched off, as someone with full control of the database could.
func tamper(t *testing.T, dsn, table, sql string) {
	t.Helper()
	if err := pgExec(t, dsn, fmt.Sprintf(`ALTER TABLE %[1]s DISABLE TRIGGER USER; %[2]s; ALTER TABLE %[1]s ENABLE TRIGGER USER`, table, sql)); err != nil {
		t.Fatal(err)
	}
}

func pgLogger(t *testing.T, dsn, table string, key *Key) *Logger {
	t.Helper()
	l, err := OpenPG(context.Background(), dsn, table, key, false)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t *testing.T, l *Logger, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Append(Record{RequestID: fmt.Sprintf("r%d", i), Endpoint: "/api/chat", Status: 200, Client: "127.0.0.1", PatientID: "P-0042-ZHANG"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPGChainFromTwoReplicas appends from two loggers on one table at once
// (two servers): the chain has every record once, in one order, verifies,
// and is byte for byte a file log: written out with its head as files, it
// passes VerifyFile.
func TestPGChainFromTwoReplicas(t *testing.T) {
	dsn, table := pgTable(t)
	key := testKey(t, 1)
	a, b := pgLogger(t, dsn, table, key), pgLogger(t, dsn, table, key)
	var wg sync.WaitGroup
	for _, l := range []*Logger{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := l.Append(Record{Endpoint: "/api/chat", Status: 200, PatientID: "P-1"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	a.Close()
	b.Close()
	rep, err := VerifyPG(context.Background(), dsn, table, key)
	if err != nil || !rep.OK || rep.Records != 100 || rep.Head == nil || rep.Head.Seq != 100 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// the same chain as the file log
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, fmt.Sprintf(`SELECT line FROM %s ORDER BY seq`, table))
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var h head
	var seq int64
	if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT seq, last, time, mac FROM %s_head`, table)).Scan(&seq, &h.Last, &h.Time, &h.MAC); err != nil {
		t.Fatal(err)
	}
	h.Seq = uint64(seq)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, path, lines)
	hb := fmt.Sprintf(`{"seq":%d,"last":%q,"time":%q,"mac":%q}`, h.Seq, h.Last, h.Time, h.MAC)
	if err := os.WriteFile(path+HeadSuffix, []byte(hb+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if frep, err := VerifyFile(path, key); err != nil || frep.Records != 100 {
		t.Fatalf("exported as a file: %+v %v", frep, err)
	}
	if strings.Contains(strings.Join(lines, "\n"), "P-1") {
		t.Error("patient id stored in clear")
	}
	// a third server continues the chain
	c := pgLogger(t, dsn, table, key)
	appendN(t, c, 0, 1)
	c.Close()
	if rep, err := VerifyPG(ctx, dsn, table, key); err != nil || rep.Records != 101 {
		t.Fatalf("after reopen: %+v %v", rep, err)
	}
}

// TestPGAppendOnly: dayi's role (made here, granted by GrantPG) may append
// and read but not UPDATE, DELETE or TRUNCATE records, nor touch them in
// any other way; the triggers stop even the tables' owner.
func TestPGAppendOnly(t *testing.T) {
	dsn, table := pgTable(t)
	key := testKey(t, 1)
	admin := pgLogger(t, dsn, table, key) // the administrator creates the tables
	appendN(t, admin, 0, 2)
	admin.Close()
	role := fmt.Sprintf("dayi_app_%d", time.Now().UnixNano())
	if err := pgExec(t, dsn, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD 'app-secret'`, role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pgExec(t, dsn, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role))
	})
	if err := GrantPG(context.Background(), dsn, table, role); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "app-secret")
	app := u.String()
	l := pgLogger(t, app, table, key)
	appendN(t, l, 2, 3)
	l.Close()
	if rep, err := VerifyPG(context.Background(), app, table, key); err != nil || rep.Records != 5 {
		t.Fatalf("verify as dayi's role: %+v %v", rep, err)
	}
	for _, sql := range []string{
		`UPDATE %s SET line = 'x' WHERE seq = 1`,
		`DELETE FROM %s WHERE seq = 5`,
		`TRUNCATE %s`,
		`INSERT INTO %s (seq, line) VALUES (1, 'x') ON CONFLICT (seq) DO UPDATE SET line = 'x'`,
		`DROP TABLE %s`,
		`DELETE FROM %s_head`,
	} {
		q := fmt.Sprintf(sql, table)
		err := pgExec(t, app, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
			t.Errorf("dayi's role: %s: %v", q, err)
		}
	}
	for _, sql := range []string{`UPDATE %s SET line = 'x' WHERE seq = 1`, `DELETE FROM %s WHERE seq = 5`, `TRUNCATE %s`} {
		q := fmt.Sprintf(sql, table)
		if err := pgExec(t, dsn, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("owner: %s: %v", q, err)
		}
	}
	if rep, err := VerifyPG(context.Background(), dsn, table, key); err != nil || rep.Records != 5 {
		t.Fatalf("after the refused changes: %+v %v", rep, err)
	}
}

// TestPGTamperDetected makes the changes someone in full control of the
// database could make, and checks that VerifyPG finds each as the file
// log's verifier does, and that a server refuses to extend the log.
func TestPGTamperDetected(t *testing.T) {
	cases := []struct {
		name, sql, kind, reason string
	}{
		{"altered", `UPDATE %[1]s SET line = replace(line, '"status":200', '"status":403') WHERE seq = 3`, KindAltered, "modified"},
		{"missing", `DELETE FROM %[1]s WHERE seq = 2`, KindMissing, "record(s) 2..2 missing"},
		{"reordered", `UPDATE %[1]s SET seq = -seq WHERE seq IN (2, 3); UPDATE %[1]s SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0`, KindReordered, "record 2 found later"},
		{"cut tail", `DELETE FROM %[1]s WHERE seq > 3`, KindCut, "records 4..5 were cut from the end"},
		{"cut tail with the head row", `DELETE FROM %[1]s WHERE seq > 3; DELETE FROM %[1]s_head`, KindCut, "no head"},
		{"head rolled back by hand", `UPDATE %[1]s_head SET seq = 3`, KindHead, "not signed with this key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dsn, table := pgTable(t)
			key := testKey(t, 1)
			l := pgLogger(t, dsn, table, key)
			appendN(t, l, 0, 5)
			l.Close()
			tamper(t, dsn, table, fmt.Sprintf(c.sql, table))
			rep, err := VerifyPG(context.Background(), dsn, table, key)
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) || ve.Kind != c.kind || !strings.Contains(ve.Reason, c.reason) || rep.OK {
				t.Fatalf("want %s %q, got %v (%+v)", c.kind, c.reason, err, rep)
			}
			if _, err := OpenPG(context.Background(), dsn, table, key, false); err == nil || !strings.Contains(err.Error(), "refusing to append") {
				t.Errorf("server opened a tampered log: %v", err)
			}
		})
	}
	t.Run("rebuilt without the key", func(t *testing.T) {
		dsn, table := pgTable(t)
		_, fake := pgTable(t)
		key := testKey(t, 1)
		l := pgLogger(t, dsn, table, key)
		appendN(t, l, 0, 5)
		l.Close()
		// the attacker's own chain and head, under their own key
		f := pgLogger(t, dsn, fake, testKey(t, 7))
		appendN(t, f, 1, 4)
		f.Close()
		tamper(t, dsn, table, fmt.Sprintf(`DELETE FROM %[1]s; INSERT INTO %[1]s SELECT * FROM %[2]s`, table, fake))
		rep, err := VerifyPG(context.Background(), dsn, table, key)
		if !errors.Is(err, ErrTampered) || rep.Problem == nil || rep.Problem.Kind != KindRebuilt {
			t.Fatalf("records rebuilt, head kept: %v %+v", err, rep)
		}
		tamper(t, dsn, table, fmt.Sprintf(`UPDATE %[1]s_head h SET seq = f.seq, last = f.last, time = f.time, mac = f.mac FROM %[2]s_head f`, table, fake))
		rep, err = VerifyPG(context.Background(), dsn, table, key)
		if !errors.Is(err, ErrTampered) || rep.Problem == nil || rep.Problem.Kind != KindHead {
			t.Fatalf("records and head rebuilt: %v %+v", err, rep)
		}
	})
}
