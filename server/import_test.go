package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
)

// TestFinding3_CreateReadsOnlyImportDirs: /api/create used to open any path,
// answering {"from":"/etc/shadow"} with "invalid gguf: bad magic 0x746f6f72"
// (the file's first bytes, and proof it exists) and copying any GGUF on the
// disk into the store. Now it reads only models it serves and regular GGUF
// files inside --import-dir, and its refusals carry no byte of any file and
// do not tell a missing file from a forbidden one.
func TestFinding3_CreateReadsOnlyImportDirs(t *testing.T) {
	root := t.TempDir()
	imports := filepath.Join(root, "imports")
	outside := filepath.Join(root, "outside")
	evil := filepath.Join(root, "imports-evil") // shares the prefix "imports"
	for _, d := range []string{imports, outside, evil, filepath.Join(imports, "dir.gguf")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const secret = "SECRET-PATIENT-LIST hiv+ 4711"
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(imports, "good.gguf"), assets.DefaultModel)
	write(filepath.Join(imports, "notes.gguf"), []byte(secret))
	write(filepath.Join(outside, "secret.txt"), []byte(secret))
	write(filepath.Join(outside, "other.gguf"), assets.DefaultModel)
	write(filepath.Join(evil, "other.gguf"), assets.DefaultModel)
	symlink := func(target, link string) {
		if err := os.Symlink(target, link); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	symlink(filepath.Join(outside, "secret.txt"), filepath.Join(imports, "link-secret.gguf"))
	symlink(filepath.Join(outside, "other.gguf"), filepath.Join(imports, "link-out.gguf"))
	symlink("good.gguf", filepath.Join(imports, "link-in.gguf"))
	symlink(outside, filepath.Join(imports, "linkdir"))

	created := filepath.Join(root, "created")
	_, hs := testServer(t, Config{Catalogue: storeCat(created, ""), ImportDirs: []string{imports}})
	create := func(name, from string) (int, string) {
		t.Helper()
		st, body, _ := post(t, hs, "/api/create", map[string]any{"model": name, "from": from, "stream": false})
		return st, string(body)
	}
	// leaks reports what of a file's content a body gives away (apart from
	// the echoed from, which holds no content).
	leaks := func(body, from string, files ...string) string {
		body = strings.ReplaceAll(body, strconvQuote(from), "")
		if strings.Contains(body, "magic") || strings.Contains(body, secret) || strings.Contains(body, "SECRET") {
			return "names the magic or quotes the file"
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || len(b) < 4 {
				continue
			}
			for _, h := range []string{hex.EncodeToString(b[:4]), hex.EncodeToString([]byte{b[3], b[2], b[1], b[0]}), string(b[:4])} {
				if strings.Contains(strings.ToLower(body), strings.ToLower(h)) {
					return "contains the first bytes " + h
				}
			}
		}
		return ""
	}
	// Refused without reading: system files, missing files, paths that
	// leave the import directory by "..", a symlink or a shared prefix,
	// relative paths, directories. All get one status and one message.
	denied := map[string][]string{
		"/etc/shadow":                          {"/etc/shadow"},
		"/etc/passwd":                          {"/etc/passwd"},
		"/etc/no-such-file-x":                  nil,
		filepath.Join(imports, "missing.gguf"): nil,
		filepath.Join(imports, "..", "outside", "secret.txt"):          {filepath.Join(outside, "secret.txt")},
		imports + "/../outside/other.gguf":                             nil,
		filepath.Join(imports, "link-secret.gguf"):                     {filepath.Join(outside, "secret.txt")},
		filepath.Join(imports, "link-out.gguf"):                        nil,
		filepath.Join(imports, "linkdir", "secret.txt"):                {filepath.Join(outside, "secret.txt")},
		filepath.Join(evil, "other.gguf"):                              nil,
		filepath.Join(imports, "dir.gguf"):                             nil,
		"good.gguf":                                                    nil,
		"imports/good.gguf":                                            nil,
		"../" + filepath.Base(root) + "/imports/good.gguf":             nil,
		filepath.Join(imports, "sub", "..", "..", "outside", "x.gguf"): nil,
	}
	var first string
	for from, files := range denied {
		st, body := create("stolen", from)
		if st != 403 || !strings.Contains(body, "not allowed") {
			t.Errorf("from %q: %d %s, want 403 not allowed", from, st, body)
		}
		if l := leaks(body, from, files...); l != "" {
			t.Errorf("from %q: the answer %s: %s", from, l, body)
		}
		var e struct{ Error string }
		json.Unmarshal([]byte(body), &e)
		msg := strings.Replace(e.Error, `"`+from+`"`, "FROM", 1)
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("from %q answers %q, others %q: an existence oracle", from, msg, first)
		}
	}

	// Inside the directory but not a GGUF: said so, without its bytes.
	st, body := create("notes", filepath.Join(imports, "notes.gguf"))
	if st != 400 || !strings.Contains(body, "not a GGUF file") || leaks(body, filepath.Join(imports, "notes.gguf"), filepath.Join(imports, "notes.gguf")) != "" {
		t.Errorf("non-GGUF in the import dir: %d %s", st, body)
	}

	// Nothing of the refused requests reached the store.
	if ents, _ := os.ReadDir(created); len(ents) != 0 {
		t.Fatalf("store holds %d entries after refused creates", len(ents))
	}

	// A real GGUF inside works, directly and through a link that stays inside.
	for name, from := range map[string]string{"imported": filepath.Join(imports, "good.gguf"), "linked": filepath.Join(imports, "link-in.gguf")} {
		if st, body := create(name, from); st != 200 {
			t.Fatalf("from %s: %d %s", from, st, body)
		}
		b, err := os.ReadFile(filepath.Join(created, name, "latest.gguf"))
		if err != nil || !bytes.Equal(b, assets.DefaultModel) {
			t.Fatalf("%s in the store: %d bytes, %v", name, len(b), err)
		}
		st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": name, "prompt": "Once", "raw": true, "stream": false,
			"options": greedy(2)})
		if st != 200 {
			t.Fatalf("generate with %s: %d %s", name, st, body)
		}
	}

	// A server without --import-dir reads no file at all.
	_, hs2 := testServer(t, Config{Catalogue: storeCat(t.TempDir(), "")})
	st, b2, _ := post(t, hs2, "/api/create", map[string]any{"model": "x", "from": filepath.Join(imports, "good.gguf"), "stream": false})
	if st != 403 || !strings.Contains(string(b2), "--import-dir") {
		t.Fatalf("no import dirs: %d %s", st, b2)
	}
}

// strconvQuote is how the error JSON spells s inside its message: Go-quoted
// by %q, then JSON-escaped.
func strconvQuote(s string) string {
	b, _ := json.Marshal(fmt.Sprintf("%q", s))
	return string(b[1 : len(b)-1])
}

// TestImportDirThroughLink: an import directory given through a symlink (a
// mount point linked into place) matches files by either spelling, and a
// sibling that shares its name as a prefix still does not.
func TestImportDirThroughLink(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "data")
	os.MkdirAll(real, 0o755)
	os.MkdirAll(real+"2", 0o755)
	os.WriteFile(filepath.Join(real, "m.gguf"), assets.DefaultModel, 0o644)
	os.WriteFile(filepath.Join(real+"2", "m.gguf"), assets.DefaultModel, 0o644)
	link := filepath.Join(root, "imports")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	want, _ := filepath.EvalSymlinks(filepath.Join(real, "m.gguf"))
	for _, from := range []string{filepath.Join(link, "m.gguf"), filepath.Join(real, "m.gguf")} {
		got, err := importPath([]string{link}, from)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", from, got, err, want)
		}
	}
	if _, err := importPath([]string{link}, filepath.Join(real+"2", "m.gguf")); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("a sibling sharing the prefix: %v", err)
	}
	if _, err := importPath([]string{filepath.Join(root, "missing")}, filepath.Join(real, "m.gguf")); err == nil {
		t.Error("a missing import directory allowed a file")
	}
}
