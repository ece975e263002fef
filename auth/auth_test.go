package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeysFileRoundTripAndPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, FileName)
	kf, err := LoadOrEmpty(path)
	if err != nil || len(kf.Keys) != 0 {
		t.Fatalf("missing file: %v %v", kf, err)
	}
	ward, err := kf.Add("ward-7", []Scope{Generate, Memory}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Add("ward-7", []Scope{Generate}, time.Now()); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := kf.Add("ops", []Scope{"root"}, time.Now()); err == nil || !strings.Contains(err.Error(), `unknown scope "root"`) {
		t.Fatalf("unknown scope: %v", err)
	}
	if err := Save(path, kf); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %04o, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode %04o, want 0700", dst.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), ward) || strings.Contains(string(data), strings.TrimPrefix(ward, Prefix)) {
		t.Fatal("the keys file holds the key itself")
	}
	if !strings.Contains(string(data), Hash(ward)) {
		t.Fatalf("the keys file lacks the key's hash: %s", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Keys) != 1 || back.Keys[0].Name != "ward-7" || !slices.Equal(back.Keys[0].Scopes, []Scope{Generate, Memory}) ||
		!back.Keys[0].Created.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("loaded %+v", back.Keys)
	}

	// A file others may write is refused, naming the file.
	if err := os.Chmod(path, 0o620); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-writable file: %v", err)
	}
	os.Chmod(path, 0o600)

	if err := back.Remove("ward-7"); err != nil {
		t.Fatal(err)
	}
	if err := back.Remove("ward-7"); err == nil {
		t.Fatal("removing a missing key succeeded")
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.json": "not json",
		"version.json": `{"version":9,"keys":[]}`,
		"scope.json":   `{"version":1,"keys":[{"name":"a","scopes":["root"],"sha256":"` + strings.Repeat("0", 64) + `"}]}`,
		"dup.json": `{"version":1,"keys":[{"name":"a","scopes":["admin"],"sha256":"` + strings.Repeat("0", 64) + `"},` +
			`{"name":"a","scopes":["admin"],"sha256":"` + strings.Repeat("1", 64) + `"}]}`,
		"hash.json":  `{"version":1,"keys":[{"name":"a","scopes":["admin"],"sha256":"zz"}]}`,
		"name.json":  `{"version":1,"keys":[{"name":"a b","scopes":["admin"],"sha256":"` + strings.Repeat("0", 64) + `"}]}`,
		"plain.json": `{"version":1,"keys":[{"name":"a","scopes":["admin"],"key":"dayi_x","sha256":"` + strings.Repeat("0", 64) + `"}]}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSecretsAndLookup(t *testing.T) {
	re := regexp.MustCompile(`^dayi_[A-Za-z0-9_-]{43}$`)
	a, _ := NewSecret()
	b, _ := NewSecret()
	if !re.MatchString(a) || a == b {
		t.Fatalf("keys %q %q", a, b)
	}
	kf := &File{}
	k1, _ := kf.Add("reader", []Scope{Generate}, time.Now())
	k2, _ := kf.Add("nurse", []Scope{Generate, Clinic, Memory}, time.Now())
	kr, err := NewKeyring(kf.Keys, []string{" legacy-key ", ""})
	if err != nil {
		t.Fatal(err)
	}
	if kr.Len() != 3 {
		t.Fatalf("Len %d", kr.Len())
	}
	for _, c := range []struct {
		secret string
		name   string
		memory bool
	}{{k1, "reader", false}, {k2, "nurse", true}, {"legacy-key", "api-key-" + Hash("legacy-key")[:8], true}} {
		p, ok := kr.Lookup(c.secret)
		if !ok || p.Name != c.name || p.Has(Memory) != c.memory {
			t.Errorf("Lookup(%s) = %+v %v, want %s memory=%v", c.name, p, ok, c.name, c.memory)
		}
	}
	for _, bad := range []string{"", k1 + "x", k1[:len(k1)-1], Hash(k1), "dayi_"} {
		if p, ok := kr.Lookup(bad); ok {
			t.Errorf("Lookup(%q) matched %s", bad, p.Name)
		}
	}
	var none *Keyring
	if _, ok := none.Lookup(k1); ok || none.Len() != 0 {
		t.Fatal("nil keyring matched")
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"memory,generate", " clinic", "generate"})
	if err != nil || !slices.Equal(got, []Scope{Generate, Memory, Clinic}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseScopes([]string{"generate,superuser"}); err == nil || !strings.Contains(err.Error(), "superuser") || !strings.Contains(err.Error(), "kb:write") {
		t.Fatalf("unknown scope: %v", err)
	}
	if _, err := ParseScopes(nil); err == nil {
		t.Fatal("no scope accepted")
	}
}

// A running server sees `dayi keys add` and `dayi keys rm` without a restart.
func TestSourceReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	src, err := NewSource(path, []string{"plain"})
	if err != nil {
		t.Fatal(err)
	}
	src.Interval = 0
	if src.Keyring().Len() != 1 {
		t.Fatal("missing file: want only the plain key")
	}
	kf, _ := LoadOrEmpty(path)
	k, _ := kf.Add("desk", []Scope{Generate}, time.Now())
	if err := Save(path, kf); err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Keyring().Lookup(k); !ok {
		t.Fatal("added key not seen")
	}
	kf.Remove("desk")
	if err := Save(path, kf); err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Keyring().Lookup(k); ok {
		t.Fatal("removed key still accepted")
	}
	// A broken file keeps the keys in force and reports once.
	kf.Add("desk2", []Scope{Generate}, time.Now())
	Save(path, kf)
	src.Keyring()
	var reported []error
	src.OnError = func(err error) { reported = append(reported, err) }
	os.WriteFile(path, []byte("{"), 0o600)
	os.Chtimes(path, time.Now(), time.Now().Add(time.Hour))
	if src.Keyring().Len() != 2 || src.Keyring().Len() != 2 {
		t.Fatal("a broken file dropped the keys in force")
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), path) {
		t.Fatalf("reported %v", reported)
	}
	// An unreadable file at start is an error naming it.
	if _, err := NewSource(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("NewSource on a broken file: %v", err)
	}
}

// Requests read the keys while `dayi keys` rewrites the file (run with -race).
func TestSourceConcurrentReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	kf := &File{}
	stable, _ := kf.Add("stable", []Scope{Generate}, time.Now())
	if err := Save(path, kf); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Interval = 0
	done := make(chan struct{})
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				if _, ok := src.Keyring().Lookup(stable); !ok {
					errs <- "the stable key was refused during a reload"
					return
				}
			}
		}()
	}
	for i := range 20 {
		kf.Add(fmt.Sprintf("temp-%d", i), []Scope{Generate}, time.Now())
		if err := Save(path, kf); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 8 {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}

// Concurrent `dayi keys add` commands keep every key.
func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", FileName)
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			errs <- Update(path, func(kf *File) error {
				_, err := kf.Add(fmt.Sprintf("k%d", i), []Scope{Generate}, time.Now())
				return err
			})
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	kf, err := Load(path)
	if err != nil || len(kf.Keys) != 16 {
		t.Fatalf("%d keys, %v", len(kf.Keys), err)
	}
	if err := Update(path, func(kf *File) error { return kf.Remove("nope") }); err == nil {
		t.Fatal("a failed edit succeeded")
	}
}
