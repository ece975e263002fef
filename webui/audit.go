package webui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"dayi/audit"
)

// AuditVerifier checks the server's audit log from its first record, as
// `dayi audit verify` does (audit.VerifyFile for a file, audit.VerifyPG for
// PostgreSQL); the edge binds it to the log the server writes.
type AuditVerifier func(ctx context.Context) (audit.Report, error)

// AuditStatus serves GET /api/audit/verify (admin): whether the audit chain
// is whole, so the admin page can show it. A problem in the chain is
// reported (its kind, line, record and reason); an I/O failure is a 500 whose
// text stays in no answer, since it names server paths. A record being
// appended while the check reads is not damage: the head is read before the
// records and seals only finished ones, and a torn last line is reported by
// audit as torn, not as tampering.
func AuditStatus(verify AuditVerifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := verify(r.Context())
		var ve *audit.VerifyError
		if err != nil && !errors.As(err, &ve) {
			slog.Default().Error("audit verify for the web app failed", "err", err)
			fail(w, http.StatusInternalServerError, "audit log: cannot be read (see the server log)")
			return
		}
		out := map[string]any{"records": rep.Records, "last_hash": rep.Last, "intact": err == nil}
		if ve != nil {
			out["broken_line"], out["broken_record"], out["reason"], out["kind"] = ve.Line, ve.Seq, ve.Reason, ve.Kind
		}
		writeJSON(w, http.StatusOK, out)
	})
}
