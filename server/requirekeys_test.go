package server

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"dayi/auth"
)

// --require-keys: a server behind a reverse proxy on the same machine sees
// every client as loopback, so loopback must not mean trusted. It refuses
// to start without a key, and once its last key is removed while it runs,
// a caller without a key is refused where a plain loopback server would
// serve it.
func TestRequireKeys(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"", "127.0.0.1:11435", "localhost:0", "[::1]:11435"} {
		_, err := New(Config{Addr: addr, RequireKeys: true, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "--require-keys") || !strings.Contains(err.Error(), "dayi keys add") {
			t.Errorf("addr %q, no key: %v", addr, err)
		}
	}
	_, err := New(Config{RequireKeys: true, InsecureNoKeys: true, APIKeys: []string{"k"}, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "--insecure-no-keys") {
		t.Errorf("--require-keys with --insecure-no-keys: %v", err)
	}
	if _, err := New(Config{RequireKeys: true, APIKeys: []string{"k"}, Logger: quiet}); err != nil {
		t.Errorf("with a plain key: %v", err)
	}

	gen := `{"model":"dayi-tiny","prompt":"hi","stream":false,"options":{"num_predict":1}}`
	for _, require := range []bool{false, true} {
		path, keys := keysFile(t, map[string][]auth.Scope{"desk": {auth.Generate}})
		s, hs := authServer(t, Config{KeysFile: path, RequireKeys: require})
		s.keys.Interval = 0 // re-read the keys file on every request
		if st, body, _ := do(t, hs, "POST", "/api/generate", gen); st != 401 {
			t.Errorf("require=%v, no key: %d %s", require, st, body)
		}
		if st, body, _ := do(t, hs, "POST", "/api/generate", gen, "Authorization", "Bearer "+keys["desk"]); st != 200 {
			t.Errorf("require=%v, with a key: %d %s", require, st, body)
		}
		if err := auth.Save(path, &auth.File{}); err != nil {
			t.Fatal(err)
		}
		st, body, _ := do(t, hs, "POST", "/api/generate", gen)
		if want := map[bool]int{false: 200, true: 403}[require]; st != want {
			t.Errorf("require=%v, last key removed, no key: %d %s, want %d", require, st, body, want)
		}
		if require && !strings.Contains(body, "dayi keys add") {
			t.Errorf("the refusal does not say how to make a key: %s", body)
		}
		if st, body, _ := do(t, hs, "GET", "/api/tags", ""); require && st != 403 {
			t.Errorf("tags after the last key is removed: %d %s", st, body)
		}
	}
}
