//go:build unix

package server

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dayi/engine"
)

// A hostile projector file (--mmproj is read as given) leaves the model
// serving text, quickly: a FIFO would block its open until a writer came,
// hanging the load; the GGUF header's counts are bounded by weights'
// parser. Images then get ErrNoVision's 400.
func TestHostileProjectorFiles(t *testing.T) {
	dir := t.TempDir()
	gguf := func(nTensors, nKV uint64, tail ...byte) []byte {
		b := append([]byte("GGUF"), 3, 0, 0, 0)
		b = binary.LittleEndian.AppendUint64(b, nTensors)
		b = binary.LittleEndian.AppendUint64(b, nKV)
		return append(b, tail...)
	}
	// One tensor "v" with 4 dims of 2^40 each: its size overflows int64.
	hugeDims := gguf(1, 0)
	hugeDims = binary.LittleEndian.AppendUint64(hugeDims, 1)
	hugeDims = append(hugeDims, 'v')
	hugeDims = binary.LittleEndian.AppendUint32(hugeDims, 4)
	for range 4 {
		hugeDims = binary.LittleEndian.AppendUint64(hugeDims, 1<<40)
	}
	hugeDims = binary.LittleEndian.AppendUint32(hugeDims, 0) // f32
	hugeDims = binary.LittleEndian.AppendUint64(hugeDims, 0)
	files := map[string][]byte{
		"tensor-count.gguf": gguf(1<<62, 0),
		"kv-count.gguf":     gguf(0, 1<<62),
		"huge-dims.gguf":    hugeDims,
		"truncated.gguf":    []byte("GGUF\x03\x00"),
		"empty.gguf":        nil,
	}
	paths := map[string]string{"missing": filepath.Join(dir, "absent.gguf"), "directory": dir}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	fifo := filepath.Join(dir, "fifo.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		paths["fifo"] = fifo
	}
	for name, p := range paths {
		_, hs := testServer(t, Config{Projectors: map[string]string{"dayi-tiny": p}})
		done := make(chan string, 1)
		go func() {
			st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "stream": false,
				"options": greedy(1)})
			if st != 200 {
				done <- fmt.Sprintf("text: %d %s", st, body)
				return
			}
			st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "x", "stream": false, "images": []string{tinyPNG}})
			if st != 400 || !strings.Contains(errText(t, body), engine.ErrNoVision.Error()) {
				done <- fmt.Sprintf("image: %d %s", st, body)
				return
			}
			done <- ""
		}()
		select {
		case msg := <-done:
			if msg != "" {
				t.Errorf("projector %s: %s", name, msg)
			}
		case <-time.After(60 * time.Second):
			// Unblock the open so that the server can close.
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				f.Close()
			}
			t.Fatalf("projector %s: the model's load hangs", name)
		}
	}
}
