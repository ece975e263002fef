package imageio

import (
	"errors"
	"image"
	"strings"
	"testing"

	"dayi/imageio/dcmtest"
)

const patient = "DOE^JANE" // in every synthetic file: no error may quote it

func grayPix(t *testing.T, img image.Image) []uint8 {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("got %T, want *image.Gray", img)
	}
	return g.Pix
}

func equalBytes(t *testing.T, what string, got, want []uint8) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d pixels, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: pixel %d = %d, want %d (all: %v, want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

// A CT-like 16-bit MONOCHROME2 image: rescale intercept −1024 and the soft
// tissue window (centre 40, width 400). Expected values are PS3.3
// C.11.2.1.2.1 worked by hand: the window runs from c − 0.5 − (w−1)/2 =
// −160 to c − 0.5 + (w−1)/2 = 239, y = ((x − 39.5)/399 + 0.5)·255:
// x = −1024 → 0; −160 → 0 (≤ lower edge); −159 → 0.6391 → 1;
// 0 → 102.256 → 102; 40 → 127.82 → 128; 239 → 255; 240 → 255.
func TestDICOMWindowCT(t *testing.T) {
	stored := []int{0, 864, 865, 1024, 1064, 1263, 1264}
	want := []uint8{0, 0, 1, 102, 128, 255, 255}
	for _, implicit := range []bool{false, true} {
		f := dcmtest.File{Implicit: implicit, Rows: 1, Cols: 7, BitsAlloc: 16, BitsStored: 12, Photometric: "MONOCHROME2",
			Intercept: "-1024", Slope: "1", Center: "40", Width: "400", Pixels: dcmtest.U16(stored...), PatientName: patient}
		img, err := Decode(f.Bytes(), DefaultLimits())
		if err != nil {
			t.Fatalf("implicit=%v: %v", implicit, err)
		}
		equalBytes(t, "CT window", grayPix(t, img), want)
	}
}

// Several window values (PS3.3: multiple alternatives): the first applies.
// Slope 2: x = 2s; c = 100, w = 101: edges 49.5 and 149.5,
// y = ((x − 99.5)/100 + 0.5)·255: s=25 (x=50) → 1.2750 → 1; s=50
// (x=100) → 128.775 → 129; s=74 (x=148) → 251.175 → 251; s=75 → 255.
func TestDICOMWindowFirstValueAndSlope(t *testing.T) {
	f := dcmtest.File{Rows: 2, Cols: 2, BitsAlloc: 16, BitsStored: 16, Photometric: "MONOCHROME2",
		Slope: "2", Intercept: "0", Center: `100\500`, Width: `101\50`, Pixels: dcmtest.U16(25, 50, 74, 75)}
	img, err := Decode(f.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "window", grayPix(t, img), []uint8{1, 129, 251, 255})
}

// LINEAR_EXACT (C.11.2.1.3.2): c = 100, w = 100, y = ((x − 100)/100 + 0.5)·255:
// x = 50 → 0 (≤ c − w/2); 75 → 63.75 → 64; 100 → 127.5 → 128; 150 → 255.
func TestDICOMWindowLinearExact(t *testing.T) {
	f := dcmtest.File{Rows: 1, Cols: 4, BitsAlloc: 16, BitsStored: 16, Photometric: "MONOCHROME2",
		Center: "100", Width: "100", VOIFunction: "LINEAR_EXACT", Pixels: dcmtest.U16(50, 75, 100, 150)}
	img, err := Decode(f.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "linear exact", grayPix(t, img), []uint8{0, 64, 128, 255})
}

// Without a window the frame's min–max is stretched to 0–255, then
// MONOCHROME1 (white is the lowest value) is inverted: stored 10, 20, 30,
// 60 → 0, 51, 102, 255 → 255, 204, 153, 0.
func TestDICOMMonochrome1MinMax(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		f := dcmtest.File{Implicit: implicit, Rows: 2, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME1",
			Pixels: []byte{10, 20, 30, 60}, PatientName: patient}
		img, err := Decode(f.Bytes(), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		equalBytes(t, "MONOCHROME1", grayPix(t, img), []uint8{255, 204, 153, 0})
		f.Photometric = "MONOCHROME2"
		img, _ = Decode(f.Bytes(), DefaultLimits())
		equalBytes(t, "MONOCHROME2", grayPix(t, img), []uint8{0, 51, 102, 255})
	}
}

// Signed 12-bit samples in 16-bit words with garbage above bit 11 (which
// readers must mask): −2048, 0, 2047 and −1 → min–max (−2048…2047):
// 0, 127.53 → 128, 255, 127.47 → 127.
func TestDICOMSigned12Bit(t *testing.T) {
	f := dcmtest.File{Rows: 1, Cols: 4, BitsAlloc: 16, BitsStored: 12, Signed: true, Photometric: "MONOCHROME2",
		Pixels: dcmtest.U16(0xF800, 0xF000, 0x07FF, 0x0FFF)}
	img, err := Decode(f.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "signed", grayPix(t, img), []uint8{0, 128, 255, 127})
}

func TestDICOMRGB(t *testing.T) {
	// 2×1: red-ish then blue-ish, interleaved and planar.
	want := []uint8{200, 10, 20, 255, 5, 6, 250, 255}
	for _, f := range []dcmtest.File{
		{Rows: 1, Cols: 2, Samples: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Pixels: []byte{200, 10, 20, 5, 6, 250}},
		{Rows: 1, Cols: 2, Samples: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Planar: true, Pixels: []byte{200, 5, 10, 6, 20, 250}},
		{Implicit: true, Rows: 1, Cols: 2, Samples: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Planar: true, Pixels: []byte{200, 5, 10, 6, 20, 250}},
	} {
		img, err := Decode(f.Bytes(), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		rgba, ok := img.(*image.RGBA)
		if !ok {
			t.Fatalf("%T", img)
		}
		equalBytes(t, "RGB", rgba.Pix, want)
	}
	// YBR_FULL grey (Y, 128, 128) is grey; Y=100, Cr=228 adds 140.2 red.
	f := dcmtest.File{Rows: 1, Cols: 2, Samples: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "YBR_FULL", Pixels: []byte{90, 128, 128, 100, 128, 228}}
	img, err := Decode(f.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "YBR_FULL", img.(*image.RGBA).Pix, []uint8{90, 90, 90, 255, 240, 29, 100, 255})
}

// A multi-frame file gives its first frame.
func TestDICOMFirstFrame(t *testing.T) {
	f := dcmtest.File{Rows: 1, Cols: 2, Frames: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2",
		Center: "128", Width: "256", Pixels: []byte{0, 255, 7, 7, 9, 9}}
	img, err := Decode(f.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "first frame", grayPix(t, img), []uint8{0, 255})
}

// Sequences of undefined length (nested, and UN in explicit VR whose content
// is implicit VR) are skipped, including image attributes inside them that
// must not override the top level's.
func TestDICOMSkipsSequences(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		inner := dcmtest.Elem(implicit, 0x00280010, "US", []byte{9, 0}) // a Rows inside a sequence
		nested := dcmtest.UndefinedSeq(implicit, 0x00400275, append(inner, dcmtest.UndefinedSeq(implicit, 0x0040a730, inner)...))
		extra := [][]byte{nested}
		if !implicit {
			// UN, undefined length: its items are implicit VR (PS3.5 §6.2.2).
			un := dcmtest.UndefinedSeq(true, 0x00431028, dcmtest.Elem(true, 0x00280011, "US", []byte{9, 0}))
			un = append(append(un[:4:4], 'U', 'N', 0, 0), un[4:]...)
			extra = append(extra, un)
		}
		f := dcmtest.File{Implicit: implicit, Rows: 1, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2",
			Pixels: []byte{0, 100}, Extra: extra, PatientName: patient}
		img, err := Decode(f.Bytes(), DefaultLimits())
		if err != nil {
			t.Fatalf("implicit=%v: %v", implicit, err)
		}
		equalBytes(t, "after sequences", grayPix(t, img), []uint8{0, 255})
	}
}

func dicomErr(t *testing.T, data []byte, lim Limits, want error, wantText string) {
	t.Helper()
	_, err := Decode(data, lim)
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), wantText) {
		t.Fatalf("err = %q, want it to say %q", err, wantText)
	}
	if strings.Contains(err.Error(), "DOE") || strings.Contains(err.Error(), "JANE") {
		t.Fatalf("error quotes the patient: %q", err)
	}
}

func TestDICOMRefusals(t *testing.T) {
	base := dcmtest.File{Rows: 2, Cols: 2, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME2", Pixels: []byte{1, 2, 3, 4}, PatientName: patient}
	lim := DefaultLimits()
	with := func(mod func(*dcmtest.File)) []byte { f := base; mod(&f); return f.Bytes() }

	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.4.50" }), lim, ErrFormat, "JPEG Baseline")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.4.50" }), lim, ErrFormat, "1.2.840.10008.1.2.4.50")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.4.90" }), lim, ErrFormat, "JPEG 2000")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.4.80" }), lim, ErrFormat, "JPEG-LS")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.5" }), lim, ErrFormat, "RLE")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.840.10008.1.2.2" }), lim, ErrFormat, "Big Endian")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = "1.2.3.4" }), lim, ErrFormat, "1.2.3.4 is not supported")
	dicomErr(t, with(func(f *dcmtest.File) { f.TransferSyntax = patient }), lim, ErrFormat, "malformed")
	dicomErr(t, with(func(f *dcmtest.File) { f.Photometric = "PALETTE COLOR" }), lim, ErrFormat, "PALETTE COLOR")
	dicomErr(t, with(func(f *dcmtest.File) { f.Photometric = patient }), lim, ErrFormat, "malformed")
	dicomErr(t, with(func(f *dcmtest.File) { f.BitsAlloc, f.BitsStored = 32, 32 }), lim, ErrFormat, "BitsAllocated 32")
	dicomErr(t, with(func(f *dcmtest.File) { f.BitsStored = 12 }), lim, ErrFormat, "BitsStored 12 exceeds")
	dicomErr(t, with(func(f *dcmtest.File) { f.Pixels = f.Pixels[:2] }), lim, ErrFormat, "has 2 bytes, the first frame needs 4")
	dicomErr(t, with(func(f *dcmtest.File) { f.Center, f.Width = patient, "10" }), lim, ErrFormat, "not a decimal")
	dicomErr(t, with(func(f *dcmtest.File) { f.Rows, f.Cols = 0, 2 }), lim, ErrFormat, "0 pixels")
	// 5000×5000 declared with 4 bytes of pixel data: refused by the pixel
	// limit, before the short pixel data is even looked at.
	dicomErr(t, with(func(f *dcmtest.File) { f.Rows, f.Cols = 5000, 5000 }), lim, ErrLimit, "25000000 pixels")

	// Nested undefined-length sequences deeper than maxDepth.
	deep := []byte{}
	for i := 0; i < 100; i++ {
		deep = dcmtest.UndefinedSeq(false, 0x00400275, deep)
	}
	dicomErr(t, with(func(f *dcmtest.File) { f.Extra = [][]byte{deep} }), lim, ErrFormat, "nested deeper")

	// Not Part 10 and no pixel data.
	noPixels := with(func(*dcmtest.File) {})
	noPixels = noPixels[:strings.LastIndex(string(noPixels), "\xe0\x7f\x10\x00")]
	dicomErr(t, noPixels, lim, ErrFormat, "no pixel data")
}

// Every prefix of a valid file is refused with ErrFormat, never a panic, and
// a length field pointing past the end is caught.
func TestDICOMTruncated(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		f := dcmtest.File{Implicit: implicit, Rows: 2, Cols: 2, BitsAlloc: 16, BitsStored: 16, Photometric: "MONOCHROME2",
			Pixels: dcmtest.U16(1, 2, 3, 4), PatientName: patient,
			Extra: [][]byte{dcmtest.UndefinedSeq(implicit, 0x00400275, dcmtest.Elem(implicit, 0x00080100, "SH", []byte("X")))}}
		data := f.Bytes()
		if _, err := Decode(data, DefaultLimits()); err != nil {
			t.Fatal(err)
		}
		for n := 132; n < len(data); n++ {
			_, err := Decode(data[:n], DefaultLimits())
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("implicit=%v, %d of %d bytes: err = %v", implicit, n, len(data), err)
			}
			if strings.Contains(err.Error(), "DOE") {
				t.Fatalf("error quotes the patient: %v", err)
			}
		}
	}
}
