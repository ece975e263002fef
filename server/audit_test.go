package server

import (
	"bytes"
	"path/filepath"
	"testing"

	"dayi/audit"
)

// openTestAudit opens a fresh audit log sealed with a fixed test key; the
// test's cleanup closes it.
func openTestAudit(t *testing.T, content bool) (*audit.Logger, string, *audit.Key) {
	t.Helper()
	key, err := audit.NewKey(bytes.Repeat([]byte{0x5a}, audit.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	al, err := audit.Open(path, key, content)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	return al, path, key
}
