package webui

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"

	"dayi/audit"
)

// AuditStatus serves GET /api/audit/verify (admin): the hash chain of the
// server's audit file checked from its first record, as `dayi audit verify`
// does, so the admin page can show whether the log is whole. It reads the
// file up to its last complete line, so a record being appended while it
// reads is not taken for damage.
func AuditStatus(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			fail(w, http.StatusInternalServerError, "audit log: %v", err)
			return
		}
		defer f.Close()
		n, err := completeLines(f)
		if err != nil {
			fail(w, http.StatusInternalServerError, "audit log: %v", err)
			return
		}
		st, err := audit.Verify(io.NewSectionReader(f, 0, n))
		out := map[string]any{"records": st.Records, "last_hash": st.Last, "intact": err == nil}
		var ve *audit.VerifyError
		switch {
		case errors.As(err, &ve):
			out["broken_line"], out["broken_record"], out["reason"] = ve.Line, ve.Seq, ve.Reason
		case err != nil:
			fail(w, http.StatusInternalServerError, "audit log: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// completeLines is the length of f up to and including its last newline.
func completeLines(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := fi.Size()
	buf := make([]byte, 64<<10)
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
