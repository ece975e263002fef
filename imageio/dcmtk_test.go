package imageio

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readPNM reads dcm2pnm's raw 8-bit PGM (P5) or PPM (P6) output.
func readPNM(t *testing.T, path string) (w, h, channels int, pix []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	var magic string
	var maxv int
	if _, err := fmt.Fscan(r, &magic, &w, &h, &maxv); err != nil || maxv != 255 {
		t.Fatalf("%s: header: %v (max %d)", path, err, maxv)
	}
	r.ReadByte() // the single whitespace after the header
	channels = map[string]int{"P5": 1, "P6": 3}[magic]
	pix = make([]byte, w*h*channels)
	if _, err := r.Read(pix); err != nil || channels == 0 {
		t.Fatalf("%s: %v (magic %s)", path, err, magic)
	}
	return w, h, channels, pix
}

// The DICOM reader against an independent implementation: dcmtk 3.6.7's
// dcm2pnm rendered the synthetic files of testdata/dcmtk (gen.sh; the
// windowed ones with the file's first VOI window, +Wi 1, the others with
// its min–max window, +Wm). dcmtk rounds its window function differently
// (it evaluates it in a lookup table), so ±1 is allowed; the count of
// pixels off by one is reported.
func TestDICOMMatchesDCMTK(t *testing.T) {
	dir := filepath.Join("testdata", "dcmtk")
	list, err := os.ReadFile(filepath.Join(dir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name+".dcm"))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(data, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			w, h, ch, want := readPNM(t, filepath.Join(dir, name+".pnm"))
			if img.Bounds() != image.Rect(0, 0, w, h) {
				t.Fatalf("bounds %v, dcmtk %dx%d", img.Bounds(), w, h)
			}
			var got []byte
			switch m := img.(type) {
			case *image.Gray:
				got = m.Pix
			case *image.RGBA:
				for i := 0; i < len(m.Pix); i += 4 {
					got = append(got, m.Pix[i:i+3]...)
				}
			}
			if len(got) != w*h*ch {
				t.Fatalf("%T with %d samples, dcmtk has %d channels", img, len(got), ch)
			}
			off := 0
			for i := range want {
				d := int(got[i]) - int(want[i])
				if d < -1 || d > 1 {
					t.Fatalf("sample %d: %d, dcmtk %d", i, got[i], want[i])
				}
				if d != 0 {
					off++
				}
			}
			t.Logf("%d of %d samples differ by 1 from dcmtk", off, len(want))
		})
	}
}
