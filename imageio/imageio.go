// Package imageio turns image bytes from a request or a file into an
// image.Image for the vision models: PNG and JPEG (standard library) and
// uncompressed DICOM (dicom.go), with limits checked before any pixel is
// allocated, and the data: URLs and base64 strings the Ollama and OpenAI
// APIs carry images in.
//
// Every byte is hostile: sizes are checked against Limits from the header
// before decoding (a few-KB PNG can declare 100000×100000 pixels), and
// errors never quote the input (a DICOM header holds the patient's name).
package imageio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
)

// Limits bound what one request may make the server decode.
type Limits struct {
	MaxBytes  int   // encoded bytes of one image
	MaxPixels int64 // width × height of one image (its first frame)
	MaxImages int   // images in one request
}

// DefaultLimits are what dayi serve and dayi run apply. 8 MiB is the
// server's default body limit (so over HTTP, where base64 adds a third, a
// 6 MiB image is the largest that arrives); 4096×4096 covers a digital
// chest radiograph or mammogram (gemma3 resizes every image to 896×896
// anyway) while one decoded image stays within 64 MiB as 8-bit RGBA (128
// MiB for a 16-bit RGBA PNG, the widest the decoders make); 8 images bound
// a request's decoded pixels to 512 MiB (1 GiB at 16 bits). The server
// decodes only after admission, so --max-active bounds the whole.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 8 << 20, MaxPixels: 4096 * 4096, MaxImages: 8}
}

// ErrFormat marks bytes that are not a readable image: an unknown format,
// a corrupt or truncated file, a DICOM variant dayi does not read.
var ErrFormat = errors.New("not a readable image")

// ErrLimit marks an image over one of the Limits.
var ErrLimit = errors.New("image over the limit")

// LimitError says which limit an image exceeds.
type LimitError struct {
	Limit string // "bytes", "pixels" or "images"
	Got   int64
	Max   int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "pixels":
		return fmt.Sprintf("image has %d pixels, the limit is %d per image", e.Got, e.Max)
	case "images":
		return fmt.Sprintf("%d images, the limit is %d per request", e.Got, e.Max)
	}
	return fmt.Sprintf("image is %d bytes, the limit is %d per image", e.Got, e.Max)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// formatErr wraps ErrFormat; what it says never quotes the input.
func formatErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

// CheckCount refuses a request with more images than lim allows, before
// any of them is decoded.
func CheckCount(n int, lim Limits) error {
	if n > lim.MaxImages {
		return &LimitError{Limit: "images", Got: int64(n), Max: int64(lim.MaxImages)}
	}
	return nil
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Format names the format of data ("png", "jpeg", "dicom") from its first
// bytes, or "" when it is none of them.
func Format(data []byte) string {
	switch {
	case bytes.HasPrefix(data, pngMagic):
		return "png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return "jpeg"
	case len(data) >= 132 && string(data[128:132]) == "DICM":
		return "dicom"
	}
	return ""
}

// Decode reads one PNG, JPEG or DICOM (Part 10, uncompressed) image,
// refusing it before allocating pixels when it exceeds lim.
func Decode(data []byte, lim Limits) (image.Image, error) {
	if len(data) == 0 {
		return nil, formatErr("empty image")
	}
	if len(data) > lim.MaxBytes {
		return nil, &LimitError{Limit: "bytes", Got: int64(len(data)), Max: int64(lim.MaxBytes)}
	}
	switch Format(data) {
	case "png":
		return decodeStd(data, lim, "PNG", png.DecodeConfig, png.Decode)
	case "jpeg":
		return decodeStd(data, lim, "JPEG", jpeg.DecodeConfig, jpeg.Decode)
	case "dicom":
		return decodeDICOM(data, lim)
	}
	return nil, formatErr("unknown image format (dayi reads PNG, JPEG and DICOM)")
}

// checkPixels bounds width × height; the product cannot overflow int64.
func checkPixels(w, h int, lim Limits) error {
	if w <= 0 || h <= 0 {
		return formatErr("image is %d×%d pixels", w, h)
	}
	if n := int64(w) * int64(h); n > lim.MaxPixels {
		return &LimitError{Limit: "pixels", Got: n, Max: lim.MaxPixels}
	}
	return nil
}

// decodeStd decodes with the standard library after checking the header's
// dimensions: png and jpeg allocate the whole image from the header before
// reading any pixel data (the decompression bomb).
func decodeStd(data []byte, lim Limits, name string, config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) (image.Image, error) {
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, formatErr("%s header: %v", name, err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, lim); err != nil {
		return nil, err
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, formatErr("%s: %v", name, err)
	}
	// The decoders read one header; this holds should a later one differ.
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, formatErr("%s: decoded size differs from its header", name)
	}
	return img, nil
}

// DecodeBase64 decodes one image sent as base64 (Ollama's images), with or
// without padding, or as a data: URL; its decoded size is checked before
// the string is decoded.
func DecodeBase64(s string, lim Limits) (image.Image, error) {
	data, err := Bytes(s, lim)
	if err != nil {
		return nil, err
	}
	return Decode(data, lim)
}

// Bytes returns the encoded image of a base64 string or a data: URL, with
// DecodeBase64's checks, for a caller that reads its header (Pixels) before
// deciding to decode it.
func Bytes(s string, lim Limits) ([]byte, error) {
	// ':' is not in the base64 alphabet: a string holding one is a URL
	// (a data: URL is decoded; any other scheme gets ErrScheme's offline
	// error rather than "invalid base64").
	if strings.Contains(s[:min(len(s), 64)], ":") {
		return dataURLBytes(s, lim)
	}
	return decodeB64(s, lim)
}

// Pixels returns the width × height that an image's header declares (a
// DICOM file's first frame), checked as Decode checks it, without
// allocating a pixel: a server can then budget the decoded memory of a
// request's images before decoding any of them. It runs Decode with a
// pixel limit of 0, which every well-formed header exceeds
// (checkPixels refuses an empty image), so Decode stops at the header.
func Pixels(data []byte, lim Limits) (int64, error) {
	probe := lim
	probe.MaxPixels = 0
	_, err := Decode(data, probe)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "pixels" {
		if err == nil {
			err = formatErr("image has no pixels")
		}
		return 0, err
	}
	if le.Got > lim.MaxPixels {
		return 0, &LimitError{Limit: "pixels", Got: le.Got, Max: lim.MaxPixels}
	}
	return le.Got, nil
}

func decodeB64(s string, lim Limits) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	// base64 turns 3 bytes into 4 characters; newlines are ignored by the
	// decoder, so this bound is never below the real size.
	if n := int64(len(s)) * 3 / 4; n > int64(lim.MaxBytes) {
		return nil, &LimitError{Limit: "bytes", Got: n, Max: int64(lim.MaxBytes)}
	}
	data, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, formatErr("invalid base64")
	}
	return data, nil
}

// ErrScheme marks an image URL that is not a data: URL: dayi is offline and
// never fetches (an http(s) URL) or opens (file:) what a request names.
var ErrScheme = errors.New("only data: URLs are accepted (dayi is offline: it never fetches or opens an image URL)")

// DecodeDataURL decodes an RFC 2397 URL "data:image/png;base64,…" (any
// image/* or application/dicom type; the bytes decide the format).
func DecodeDataURL(u string, lim Limits) (image.Image, error) {
	data, err := dataURLBytes(u, lim)
	if err != nil {
		return nil, err
	}
	return Decode(data, lim)
}

func dataURLBytes(u string, lim Limits) ([]byte, error) {
	if !strings.HasPrefix(strings.ToLower(u), "data:") {
		scheme, _, ok := strings.Cut(u, ":")
		if !ok || len(scheme) > 16 || strings.ContainsAny(scheme, "/?#") {
			return nil, ErrScheme
		}
		return nil, fmt.Errorf("%w (got a %.16s: URL)", ErrScheme, strings.ToLower(scheme))
	}
	meta, payload, ok := strings.Cut(u[len("data:"):], ",")
	if !ok {
		return nil, formatErr("data: URL without a comma")
	}
	params := strings.Split(meta, ";")
	if params[len(params)-1] != "base64" {
		return nil, formatErr("data: URL must be base64-encoded (;base64,)")
	}
	if mt := strings.ToLower(params[0]); mt != "" && !strings.HasPrefix(mt, "image/") && mt != "application/dicom" && mt != "application/octet-stream" {
		return nil, formatErr("data: URL media type is not an image")
	}
	return decodeB64(payload, lim)
}
