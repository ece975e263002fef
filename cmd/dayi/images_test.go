package main

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/engine"
	"dayi/imageio/dcmtest"
)

// runCmdErr runs the dayi CLI and returns its error.
func runCmdErr(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dayi run --image reads files with the server's limits and reaches the
// model's projector check; every refusal names the file and the reason.
func TestRunImage(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "cxr.png", pngBytes(t))
	dcm := dcmtest.File{Rows: 1, Cols: 1, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2", Pixels: []byte{1}}
	dicom := writeFile(t, dir, "ct.dcm", dcm.Bytes())
	dcm.TransferSyntax = "1.2.840.10008.1.2.4.90"
	j2k := writeFile(t, dir, "j2k.dcm", dcm.Bytes())
	corrupt := writeFile(t, dir, "bad.png", []byte("\x89PNG\r\n\x1a\n not really"))
	big := filepath.Join(dir, "big.dcm")
	if f, err := os.Create(big); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(9 << 20) // sparse: 9 MiB, over the 8 MiB limit
		f.Close()
	}
	notGGUF := writeFile(t, dir, "mmproj-x.gguf", []byte("not a gguf"))
	textModel := writeFile(t, dir, "tiny.gguf", assets.DefaultModel)

	// Without a projector: engine.ErrNoVision, for PNG and DICOM alike.
	for _, img := range []string{ok, dicom} {
		_, err := runCmdErr("run", "-n", "2", "--image", img, "what is this?")
		if !errors.Is(err, engine.ErrNoVision) {
			t.Errorf("--image %s: err = %v, want ErrNoVision", filepath.Base(img), err)
		}
	}
	nine := []string{"run", "-n", "2"}
	for i := 0; i < 9; i++ {
		nine = append(nine, "--image", ok)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--image", corrupt}, []string{"bad.png", "not a readable image"}},
		{[]string{"--image", big}, []string{"big.dcm", "9437184 bytes", "limit is 8388608"}},
		{[]string{"--image", j2k}, []string{"j2k.dcm", "JPEG 2000", "1.2.840.10008.1.2.4.90"}},
		{[]string{"--image", filepath.Join(dir, "missing.png")}, []string{"missing.png"}},
		{[]string{"--image", dir}, []string{"not a regular file"}},
		{nine[3:], []string{"--image", "9 images", "limit is 8"}},
		{[]string{"--image", ok, "--mmproj", notGGUF}, []string{"--mmproj"}},
		// A GGUF that is no projector (on this branch: any) is refused.
		{[]string{"--image", ok, "--mmproj", textModel}, []string{"--mmproj", textModel}},
		{[]string{"--image", ok, "stray " + engine.ImageMarker + engine.ImageMarker}, []string{"prompt:", "2 image markers"}},
	} {
		_, err := runCmdErr(append([]string{"run", "-n", "2"}, append(tc.args, "q")...)...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q does not say %q", tc.args, err, w)
			}
		}
	}
	// A text-only run is unaffected.
	if out, err := runCmdErr("run", "-n", "2", "--temperature", "0", "Once"); err != nil || out == "" {
		t.Fatalf("text run: %q %v", out, err)
	}
}

func TestServeProjectorPairs(t *testing.T) {
	dir := t.TempDir()
	med := writeFile(t, dir, "medgemma.gguf", []byte("x"))
	proj := writeFile(t, dir, "mmproj-medgemma.gguf", []byte("x"))
	other := writeFile(t, dir, "other.gguf", []byte("x"))
	elsewhere := writeFile(t, t.TempDir(), "vision.gguf", []byte("x"))

	got, err := projectorPairs(nil, []string{med, other})
	if err != nil || len(got) != 1 || got["medgemma"] != proj {
		t.Fatalf("siblings: %v %v", got, err)
	}
	got, err = projectorPairs([]string{"medgemma:latest=" + elsewhere, "ollama/x:4b=" + proj}, []string{med})
	if err != nil || got["medgemma"] != elsewhere || got["ollama/x:4b"] != proj {
		t.Fatalf("NAME=PATH over the sibling: %v %v", got, err)
	}
	got, err = projectorPairs([]string{elsewhere}, []string{other})
	if err != nil || got["other"] != elsewhere {
		t.Fatalf("one PATH with one --model: %v %v", got, err)
	}
	for _, bad := range [][]string{{elsewhere}, {"=" + elsewhere}, {"m=" + filepath.Join(dir, "none.gguf")}, {"m=" + dir}} {
		if _, err := projectorPairs(bad, []string{med, other}); err == nil || !strings.Contains(err.Error(), "--mmproj") {
			t.Errorf("--mmproj %v: err = %v", bad, err)
		}
	}
}

// The catalogue dayi serve uses carries the store's projector pairing (a
// sibling mmproj-*.gguf in --models, an Ollama projector layer) to the
// server, and /api/show then lists the vision capability.
func TestServeCatalogueProjector(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	t.Setenv("DAYI_MODELS_PATH", "")
	models := filepath.Join(home, "extra")
	os.MkdirAll(models, 0o755)
	writeFile(t, models, "derm.gguf", assets.DefaultModel)
	proj := writeFile(t, models, "mmproj-derm.gguf", []byte("GGUF"))
	c := serveCatalogue(models, "", "-")
	m, err := c.Find("derm")
	if err != nil || m.Projector != proj {
		t.Fatalf("derm: %+v %v, want projector %s", m, err, proj)
	}
	ms, _ := c.List()
	for _, m := range ms {
		if strings.HasPrefix(m.Name, "mmproj") {
			t.Fatalf("the projector is listed as a model: %+v", m)
		}
	}
}
