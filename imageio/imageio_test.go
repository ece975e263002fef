package imageio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"

	"dayi/imageio/dcmtest"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), 77, 255})
		}
	}
	return img
}

func TestDecodePNG(t *testing.T) {
	src := gradient(17, 9)
	img, err := Decode(encodePNG(t, src), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != src.Bounds() {
		t.Fatalf("bounds %v, want %v", img.Bounds(), src.Bounds())
	}
	for y := 0; y < 9; y++ {
		for x := 0; x < 17; x++ {
			if got, want := color.RGBAModel.Convert(img.At(x, y)), src.At(x, y); got != want {
				t.Fatalf("(%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

// JPEG is lossy: a smooth gradient at quality 95 comes back within a few
// levels of the source.
func TestDecodeJPEG(t *testing.T) {
	src := gradient(32, 24)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(b.Bytes(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 32 || img.Bounds().Dy() != 24 {
		t.Fatalf("bounds %v", img.Bounds())
	}
	for _, p := range []image.Point{{0, 0}, {31, 0}, {16, 12}, {31, 23}} {
		g := color.RGBAModel.Convert(img.At(p.X, p.Y)).(color.RGBA)
		w := src.RGBAAt(p.X, p.Y)
		for _, d := range []int{int(g.R) - int(w.R), int(g.G) - int(w.G), int(g.B) - int(w.B)} {
			if d < -12 || d > 12 {
				t.Fatalf("%v: %v, want about %v", p, g, w)
			}
		}
	}
}

// pngBomb is a valid PNG header declaring w×h pixels followed by a tiny
// IDAT: a few dozen bytes that would make a naive decoder allocate w×h×4.
func pngBomb(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	b := append([]byte(nil), pngMagic...)
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(b, chunk("IEND", nil)...)
}

// A 100000×100000 PNG of a few bytes is refused from its header, without
// allocating its 40 GB of pixels.
func TestPNGBombRefusedBeforeAllocating(t *testing.T) {
	bomb := pngBomb(100000, 100000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bomb, DefaultLimits())
	runtime.ReadMemStats(&after)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "pixels" || le.Got != 100000*100000 {
		t.Fatalf("err = %v, want a pixels LimitError", err)
	}
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("%v does not wrap ErrLimit", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing the bomb allocated %d bytes", grew)
	}
	// Just over the limit is refused too; the same header at a size within
	// it reaches the decoder (which finds the pixel data short).
	lim := Limits{MaxBytes: 1 << 20, MaxPixels: 100, MaxImages: 1}
	if _, err := Decode(pngBomb(101, 1), lim); !errors.As(err, &le) {
		t.Fatalf("101 pixels: %v", err)
	}
	if _, err := Decode(pngBomb(10, 10), lim); !errors.Is(err, ErrFormat) {
		t.Fatalf("10×10 with no pixel data: %v, want ErrFormat", err)
	}
}

func TestJPEGBombRefused(t *testing.T) {
	var b bytes.Buffer
	jpeg.Encode(&b, gradient(8, 8), nil)
	data := b.Bytes()
	// Rewrite the SOF0 frame size to 60000×60000.
	i := bytes.Index(data, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(data[i+5:], 60000)
	binary.BigEndian.PutUint16(data[i+7:], 60000)
	var le *LimitError
	if _, err := Decode(data, DefaultLimits()); !errors.As(err, &le) || le.Limit != "pixels" {
		t.Fatalf("err = %v, want a pixels LimitError", err)
	}
}

func TestDecodeRefusals(t *testing.T) {
	lim := DefaultLimits()
	good := encodePNG(t, gradient(4, 4))
	for name, tc := range map[string]struct {
		data []byte
		lim  Limits
		want error
	}{
		"empty":            {nil, lim, ErrFormat},
		"text":             {[]byte("hello, this is not an image"), lim, ErrFormat},
		"gif":              {[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), lim, ErrFormat},
		"truncated png":    {good[:len(good)/2], lim, ErrFormat},
		"corrupt png":      {append(append([]byte(nil), good[:40]...), bytes.Repeat([]byte{0xAA}, 60)...), lim, ErrFormat},
		"truncated jpeg":   {[]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10}, lim, ErrFormat},
		"oversized bytes":  {good, Limits{MaxBytes: len(good) - 1, MaxPixels: 1 << 20, MaxImages: 1}, ErrLimit},
		"oversized pixels": {good, Limits{MaxBytes: 1 << 20, MaxPixels: 15, MaxImages: 1}, ErrLimit},
	} {
		if _, err := Decode(tc.data, tc.lim); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	var le *LimitError
	if _, err := Decode(good, Limits{MaxBytes: 10, MaxPixels: 1 << 20}); !errors.As(err, &le) || le.Limit != "bytes" || le.Max != 10 {
		t.Fatalf("bytes limit: %v", err)
	}
	if err := CheckCount(9, lim); !errors.As(err, &le) || le.Limit != "images" {
		t.Fatalf("CheckCount(9): %v", err)
	}
	if err := CheckCount(8, lim); err != nil {
		t.Fatalf("CheckCount(8): %v", err)
	}
}

func TestDataURLAndBase64(t *testing.T) {
	lim := DefaultLimits()
	data := encodePNG(t, gradient(3, 2))
	b64 := base64.StdEncoding.EncodeToString(data)
	for _, s := range []string{b64, strings.TrimRight(b64, "="), b64[:40] + "\n" + b64[40:], "data:image/png;base64," + b64,
		"data:application/octet-stream;base64," + b64, "DATA:image/png;base64," + b64} {
		var img image.Image
		var err error
		if strings.HasPrefix(strings.ToLower(s), "data:") {
			img, err = DecodeDataURL(s, lim)
		} else {
			img, err = DecodeBase64(s, lim)
		}
		if err != nil || img.Bounds().Dx() != 3 {
			t.Fatalf("%.30q: %v", s, err)
		}
	}
	if _, err := DecodeBase64("data:image/png;base64,"+b64, lim); err != nil {
		t.Fatalf("Ollama image sent as a data: URL: %v", err)
	}
	for s, want := range map[string]error{
		"https://example.org/x.png":             ErrScheme,
		"http://10.0.0.1/x.png":                 ErrScheme,
		"file:///etc/passwd":                    ErrScheme,
		"ftp://host/x":                          ErrScheme,
		"/etc/passwd":                           ErrScheme,
		"data:image/png," + b64:                 ErrFormat, // not base64
		"data:text/html;base64," + b64:          ErrFormat,
		"data:image/png;base64,!!!!":            ErrFormat,
		"data:image/png;base64":                 ErrFormat,
		"data:image/png;base64," + b64[:20]:     ErrFormat,
		"data:image/png;base64,aGVsbG8gd29ybGQ": ErrFormat,
	} {
		if _, err := DecodeDataURL(s, lim); !errors.Is(err, want) {
			t.Errorf("%.40q: err = %v, want %v", s, err, want)
		}
	}
	for _, u := range []string{"https://example.org/x.png", "file:///etc/passwd", "http://[::1]:8080/x"} {
		if _, err := DecodeBase64(u, lim); !errors.Is(err, ErrScheme) {
			t.Errorf("Ollama image %q: err = %v, want ErrScheme", u, err)
		}
	}
	if _, err := DecodeDataURL("file:///etc/passwd", lim); err == nil || !strings.Contains(err.Error(), "file:") {
		t.Errorf("file URL error %v should name the scheme", err)
	}
	// A huge base64 string is refused from its length, before decoding.
	small := Limits{MaxBytes: 1000, MaxPixels: 1 << 20, MaxImages: 1}
	huge := strings.Repeat("A", 4<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeBase64(huge, small)
	runtime.ReadMemStats(&after)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "bytes" {
		t.Fatalf("huge base64: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("refusing a huge base64 string allocated %d bytes", grew)
	}
}

// Pixels reads what Decode would allocate from the header alone: the same
// width × height as the decoded image, the same refusals.
func TestPixels(t *testing.T) {
	lim := DefaultLimits()
	var jb bytes.Buffer
	jpeg.Encode(&jb, gradient(9, 7), nil)
	dcm := dcmtest.File{Rows: 3, Cols: 2, BitsAlloc: 16, BitsStored: 12, Photometric: "MONOCHROME2", Pixels: dcmtest.U16(1, 2, 3, 4, 5, 6)}
	for name, data := range map[string][]byte{"png": encodePNG(t, gradient(5, 3)), "jpeg": jb.Bytes(), "dicom": dcm.Bytes()} {
		n, err := Pixels(data, lim)
		img, derr := Decode(data, lim)
		if err != nil || derr != nil {
			t.Fatalf("%s: %v / %v", name, err, derr)
		}
		if b := img.Bounds(); n != int64(b.Dx()*b.Dy()) {
			t.Errorf("%s: Pixels %d, decoded %v", name, n, b)
		}
	}
	var le *LimitError
	if _, err := Pixels(pngBomb(100000, 100000), lim); !errors.As(err, &le) || le.Got != 1e10 || le.Max != lim.MaxPixels {
		t.Errorf("bomb: %v", err)
	}
	if _, err := Pixels([]byte("\x89PNG\r\n\x1a\nbroken"), lim); !errors.Is(err, ErrFormat) {
		t.Errorf("corrupt: %v", err)
	}
	if _, err := Pixels(make([]byte, 100), Limits{MaxBytes: 10, MaxPixels: 1}); !errors.As(err, &le) || le.Limit != "bytes" {
		t.Errorf("over MaxBytes: %v", err)
	}
}
