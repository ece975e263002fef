package imageio

import (
	"bytes"
	"errors"
	"image/jpeg"
	"testing"

	"dayi/imageio/dcmtest"
)

// FuzzDecode feeds hostile bytes to every decoder: no input may panic,
// exceed the limits, or fail with anything but ErrFormat or ErrLimit. The
// corpus under testdata/fuzz/FuzzDecode holds what hand runs found
// (go test ./imageio -run '^$' -fuzz FuzzDecode -fuzztime 3m).
func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, gradient(5, 3)))
	var b bytes.Buffer
	jpeg.Encode(&b, gradient(9, 7), nil)
	f.Add(b.Bytes())
	f.Add(pngBomb(100000, 100000))
	seq := dcmtest.UndefinedSeq(false, 0x00400275, dcmtest.Elem(false, 0x00080100, "SH", []byte("X")))
	for _, d := range []dcmtest.File{
		{Rows: 2, Cols: 3, BitsAlloc: 16, BitsStored: 12, Signed: true, Photometric: "MONOCHROME2", Center: "40", Width: "400",
			Intercept: "-1024", Slope: "1", Pixels: dcmtest.U16(1, 2, 3, 4, 5, 6), Extra: [][]byte{seq}},
		{Implicit: true, Rows: 2, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME1", Pixels: []byte{1, 2, 3, 4},
			Extra: [][]byte{dcmtest.UndefinedSeq(true, 0x00400275, dcmtest.Elem(true, 0x00080100, "SH", []byte("X")))}},
		{Rows: 1, Cols: 2, Samples: 3, Planar: true, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Pixels: []byte{1, 2, 3, 4, 5, 6}},
		{Rows: 1, Cols: 1, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2", Pixels: []byte{1}, TransferSyntax: "1.2.840.10008.1.2.4.50"},
	} {
		f.Add(d.Bytes())
	}
	lim := Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 16, MaxImages: 1}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, lim)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither ErrFormat nor ErrLimit", err)
			}
			return
		}
		r := img.Bounds()
		if r.Dx() <= 0 || r.Dy() <= 0 || int64(r.Dx())*int64(r.Dy()) > lim.MaxPixels {
			t.Fatalf("decoded %v past the limits", r)
		}
	})
}
