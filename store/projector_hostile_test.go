package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A manifest's projector layer is as hostile as its model layer: a digest
// that climbs out of blobs/, is not lower-case hex or names another hash
// never pairs a file outside the store's blobs, and a projector blob that is
// missing or a directory pairs nothing while the model still lists.
func TestOllamaProjectorLayerHostile(t *testing.T) {
	root := t.TempDir()
	secret := filepath.Join(root, "secret.gguf")
	write(t, secret, []byte("GGUF-not-a-blob"))
	hexDir := strings.Repeat("ab", 32)
	if err := os.MkdirAll(filepath.Join(root, "blobs", "sha256-"+hexDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		digest  string
		refused bool // the manifest is refused (a listing error), else listed without a projector
	}{
		{"sha256:../../secret.gguf", true},
		{"sha256:../../../../../../" + strings.Repeat("a", 40), true},
		{"sha256:" + strings.ToUpper(hexSum([]byte("x"))), true},
		{"sha256:" + hexSum([]byte("x"))[:63] + "/", true},
		{"md5:" + hexSum([]byte("x")), true},
		{"sha256:" + hexSum([]byte("absent")), false}, // no such blob
		{"sha256:" + hexDir, false},                   // a directory
	} {
		ollamaFixture(t, root, ollamaRegistry, ollamaLibrary, "medgemma", "4b", []byte("GGUF-model"), "")
		manPath := filepath.Join(root, "manifests", ollamaRegistry, ollamaLibrary, "medgemma", "4b")
		man, err := os.ReadFile(manPath)
		if err != nil {
			t.Fatal(err)
		}
		man = []byte(strings.Replace(string(man), `"layers":[`, `"layers":[{"mediaType":"application/vnd.ollama.image.projector","digest":"`+tc.digest+`","size":14},`, 1))
		write(t, manPath, man)
		m, err := New(Config{Ollama: root}).Find("medgemma:4b")
		switch {
		case tc.refused && err == nil:
			t.Errorf("digest %q: listed with projector %q, want the manifest refused", tc.digest, m.Projector)
		case !tc.refused && err != nil:
			t.Errorf("digest %q: %v, want the model listed without a projector", tc.digest, err)
		case !tc.refused && m.Projector != "":
			t.Errorf("digest %q: projector %q, want none", tc.digest, m.Projector)
		}
		if m != nil && m.Projector != "" && !strings.HasPrefix(m.Projector, filepath.Join(root, "blobs")+string(filepath.Separator)) {
			t.Errorf("digest %q: projector %q outside the blobs", tc.digest, m.Projector)
		}
	}
}
