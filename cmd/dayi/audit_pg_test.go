package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dayi/audit"
)

// TestAuditPGFlags: serve's --audit-pg writes the sealed chain to
// PostgreSQL under $DAYI_HOME's audit key, `audit verify --pg` checks it,
// and contradictory flags are refused. The argument checks run without a
// database; the rest needs DAYI_TEST_PG.
func TestAuditPGFlags(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := (&auditFlags{pg: "postgres://127.0.0.1:1/x", path: "a.jsonl"}).open(lg); err == nil || !strings.Contains(err.Error(), "--audit-pg contradicts --audit") {
		t.Errorf("--audit-pg with --audit: %v", err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "a.jsonl", "--pg", "postgres://127.0.0.1:1/x"}} {
		if _, err := runDayiCmd(t, args...); err == nil || !strings.Contains(err.Error(), "either FILE or --pg") {
			t.Errorf("%v: %v", args, err)
		}
	}
	dsn := os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	table := "cmd_audit_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	l, err := (&auditFlags{pg: dsn, pgTable: table}).open(lg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+table+`, `+table+`_head; DROP FUNCTION IF EXISTS `+table+`_append_only()`); err != nil {
			t.Error(err)
		}
	})
	for i := 0; i < 3; i++ {
		if err := l.Append(audit.Record{Endpoint: "/api/chat", Status: 200, PatientID: "MRN-1"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	out, err := runDayiCmd(t, "audit", "verify", "--pg", dsn, "--pg-table", table, "--json")
	var rep audit.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.Records != 3 || rep.File != "postgres:"+table {
		t.Fatalf("verify --pg: %v %s", err, out)
	}
	// another key does not verify it
	if err := os.WriteFile(defaultAuditKey()+"2", []byte(strings.Repeat("k", audit.KeySize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runDayiCmd(t, "audit", "verify", "--pg", dsn, "--pg-table", table, "--key", defaultAuditKey()+"2"); err == nil || !strings.Contains(err.Error(), "NOT VERIFIED") {
		t.Errorf("verified with another key: %v", err)
	}
}
