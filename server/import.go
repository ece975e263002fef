package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// importPath returns the file /api/create may read for from, or an error
// that says only "not allowed" or "not a GGUF file".
//
// The rules close a file-reading hole (issue 15, finding 3): from used to be
// opened wherever it pointed, so {"from":"/etc/shadow"} answered "bad magic
// 0x746f6f72" (the file's first bytes, and proof that it exists), and any
// GGUF on the disk could be copied into the store and served. Now:
//
//   - only absolute paths, and only inside one of dirs (--import-dir; none by
//     default, so no file at all);
//   - symlinks and ".." are resolved first (filepath.EvalSymlinks), then the
//     real path must lie under a real import directory, compared on clean
//     paths with a trailing separator (so /imports-evil is not under /imports);
//   - only regular files (not a FIFO that would block the handler, a device
//     or a directory);
//   - a missing file, a forbidden one and one that cannot be resolved all get
//     the same answer, so the endpoint is no existence oracle;
//   - a file that is not GGUF gets a fixed message that quotes no byte of it.
//
// The check and the open are two steps: someone who can write into an
// import directory can swap a file between them, but such a person can
// already put any GGUF there, and no answer ever carries a byte of a file.
func importPath(dirs []string, from string) (string, error) {
	denied := notAllowed(from, len(dirs) > 0)
	if len(dirs) == 0 || !filepath.IsAbs(from) {
		return "", denied
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(from))
	if err != nil {
		return "", denied
	}
	real = filepath.Clean(real)
	inside := false
	for _, d := range dirs {
		rd, err := realDir(d)
		if err != nil {
			continue
		}
		if strings.HasPrefix(real, withSep(rd)) {
			inside = true
			break
		}
	}
	if !inside {
		return "", denied
	}
	st, err := os.Stat(real)
	if err != nil || !st.Mode().IsRegular() {
		return "", denied
	}
	f, err := os.Open(real)
	if err != nil {
		return "", denied
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return "", notGGUF(from)
	}
	return real, nil
}

// realDir is an import directory as an absolute path with symlinks
// resolved, so that a directory given through a link still matches.
func realDir(d string) (string, error) {
	abs, err := filepath.Abs(d)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	return filepath.Clean(real), nil
}

// withSep ends a directory with the separator, so that a prefix test
// matches only what is inside it ("/" stays "/").
func withSep(d string) string {
	if strings.HasSuffix(d, string(filepath.Separator)) {
		return d
	}
	return d + string(filepath.Separator)
}

func notAllowed(from string, haveDirs bool) error {
	msg := fmt.Sprintf("from %q: not allowed: not a model this server serves, nor a file inside an import directory", from)
	if !haveDirs {
		msg = fmt.Sprintf("from %q: not allowed: not a model this server serves, and this server reads no files (start it with --import-dir DIR)", from)
	}
	return &reqError{status: http.StatusForbidden, msg: msg}
}

func notGGUF(from string) error {
	return badRequest("from %q: not a GGUF file", from)
}
