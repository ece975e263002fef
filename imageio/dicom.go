package imageio

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
)

// A DICOM Part 10 reader for what a vision model needs: the first frame of
// an uncompressed image, windowed to 8 bits. The layout follows DICOM PS3.10
// §7 (128-byte preamble, "DICM", the file meta group in explicit VR little
// endian) and PS3.5 §7 (data elements, sequences, items, undefined lengths);
// the pixel pipeline follows PS3.3 C.7.6.3 (Image Pixel module), C.11.1
// (Modality LUT: rescale) and C.11.2.1.2 (VOI LUT window functions).
//
// Only the Image Pixel and VOI attributes are kept; every other element,
// the patient's name and ID among them, is skipped unread and never stored,
// logged or quoted in an error.

// Transfer syntaxes (PS3.5 §10 and Annex A).
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsExplicitBE = "1.2.840.10008.1.2.2"
)

// compressedSyntaxes names the encapsulated transfer syntaxes dayi refuses,
// so the error tells the user what to convert from (PS3.6 Annex A).
var compressedSyntaxes = map[string]string{
	"1.2.840.10008.1.2.1.99":  "Deflated Explicit VR Little Endian",
	"1.2.840.10008.1.2.4.50":  "JPEG Baseline (Process 1)",
	"1.2.840.10008.1.2.4.51":  "JPEG Extended (Process 2 & 4)",
	"1.2.840.10008.1.2.4.57":  "JPEG Lossless, Non-Hierarchical (Process 14)",
	"1.2.840.10008.1.2.4.70":  "JPEG Lossless, First-Order Prediction (Process 14, SV1)",
	"1.2.840.10008.1.2.4.80":  "JPEG-LS Lossless",
	"1.2.840.10008.1.2.4.81":  "JPEG-LS Near-Lossless",
	"1.2.840.10008.1.2.4.90":  "JPEG 2000 (Lossless Only)",
	"1.2.840.10008.1.2.4.91":  "JPEG 2000",
	"1.2.840.10008.1.2.4.92":  "JPEG 2000 Part 2 Multi-component (Lossless Only)",
	"1.2.840.10008.1.2.4.93":  "JPEG 2000 Part 2 Multi-component",
	"1.2.840.10008.1.2.4.100": "MPEG2 Main Profile / Main Level",
	"1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264 High Profile",
	"1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 (Lossless Only)",
	"1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000",
	"1.2.840.10008.1.2.5":     "RLE Lossless",
}

// Tags (group<<16 | element) the reader keeps.
const (
	tagTransferSyntax  = 0x00020010
	tagSamplesPerPixel = 0x00280002
	tagPhotometric     = 0x00280004
	tagPlanarConfig    = 0x00280006
	tagRows            = 0x00280010
	tagColumns         = 0x00280011
	tagBitsAllocated   = 0x00280100
	tagBitsStored      = 0x00280101
	tagPixelRepr       = 0x00280103
	tagWindowCenter    = 0x00281050
	tagWindowWidth     = 0x00281051
	tagRescaleInter    = 0x00281052
	tagRescaleSlope    = 0x00281053
	tagVOIFunction     = 0x00281056
	tagPixelData       = 0x7fe00010

	tagItem          = 0xfffee000
	tagItemDelim     = 0xfffee00d
	tagSequenceDelim = 0xfffee0dd

	undefinedLength = 0xffffffff
	// maxDepth bounds nested sequences: each level is a stack frame, and a
	// hostile file can nest thousands in a few KB.
	maxDepth = 32
)

// dcmReader walks data elements; every length is checked against the bytes
// left before it is used.
type dcmReader struct {
	b   []byte
	pos int
}

type dcmElement struct {
	tag    uint32
	vr     string // "" in implicit VR
	length uint32
	value  []byte // nil for an undefined length
}

func tagText(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xffff) }

// longVR are the explicit VRs with a 2-byte reserved field and a 4-byte
// length (PS3.5 §7.1.2, table 7.1-1).
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// next reads one element header and, for a defined length, its value.
func (r *dcmReader) next(explicit bool) (dcmElement, error) {
	var e dcmElement
	left := len(r.b) - r.pos
	if left < 8 {
		return e, formatErr("DICOM truncated: an element header at byte %d", r.pos)
	}
	h := r.b[r.pos:]
	e.tag = uint32(binary.LittleEndian.Uint16(h))<<16 | uint32(binary.LittleEndian.Uint16(h[2:]))
	switch {
	case e.tag>>16 == 0xfffe || !explicit:
		// Items and delimiters have no VR in either encoding (PS3.5 §7.5).
		e.length = binary.LittleEndian.Uint32(h[4:])
		r.pos += 8
	default:
		e.vr = string(h[4:6])
		if e.vr[0] < 'A' || e.vr[0] > 'Z' || e.vr[1] < 'A' || e.vr[1] > 'Z' {
			return e, formatErr("DICOM element %s at byte %d has an invalid VR", tagText(e.tag), r.pos)
		}
		if longVR(e.vr) {
			if left < 12 {
				return e, formatErr("DICOM truncated: element %s header", tagText(e.tag))
			}
			e.length = binary.LittleEndian.Uint32(h[8:])
			r.pos += 12
		} else {
			e.length = uint32(binary.LittleEndian.Uint16(h[6:]))
			r.pos += 8
		}
	}
	if e.length == undefinedLength {
		return e, nil
	}
	if int64(e.length) > int64(len(r.b)-r.pos) {
		return e, formatErr("DICOM truncated: element %s declares %d bytes, %d are left", tagText(e.tag), e.length, len(r.b)-r.pos)
	}
	e.value = r.b[r.pos : r.pos+int(e.length)]
	r.pos += int(e.length)
	return e, nil
}

// skipSequence skips the items of an undefined-length sequence up to its
// sequence delimiter. explicit is the encoding of the items' elements.
func (r *dcmReader) skipSequence(explicit bool, depth int) error {
	if depth > maxDepth {
		return formatErr("DICOM sequences nested deeper than %d", maxDepth)
	}
	for {
		e, err := r.next(false)
		if err != nil {
			return err
		}
		switch e.tag {
		case tagSequenceDelim:
			return nil
		case tagItem:
			if e.length == undefinedLength {
				if err := r.skipItem(explicit, depth+1); err != nil {
					return err
				}
			}
		default:
			return formatErr("DICOM sequence holds %s where an item belongs", tagText(e.tag))
		}
	}
}

// skipItem skips an undefined-length item's elements up to its delimiter.
func (r *dcmReader) skipItem(explicit bool, depth int) error {
	if depth > maxDepth {
		return formatErr("DICOM sequences nested deeper than %d", maxDepth)
	}
	for {
		e, err := r.next(explicit)
		if err != nil {
			return err
		}
		if e.tag == tagItemDelim {
			return nil
		}
		if e.length == undefinedLength {
			if err := r.skipSequence(explicit && e.vr != "UN", depth+1); err != nil {
				return err
			}
		}
	}
}

// dcmImage is what the Image Pixel, Modality LUT and VOI LUT modules say.
type dcmImage struct {
	rows, cols, samples, bitsAlloc, bitsStored int
	signed, planar                             bool
	photometric                                string
	slope, intercept                           float64
	center, width                              float64
	hasWindow                                  bool
	voiFunction                                string
	pixels                                     []byte
}

func decodeDICOM(data []byte, lim Limits) (image.Image, error) {
	r := &dcmReader{b: data, pos: 132}
	ts := ""
	// The file meta group is always explicit VR little endian (PS3.10 §7.1).
	for len(r.b)-r.pos >= 2 && binary.LittleEndian.Uint16(r.b[r.pos:]) == 0x0002 {
		e, err := r.next(true)
		if err != nil {
			return nil, err
		}
		if e.length == undefinedLength {
			return nil, formatErr("DICOM file meta element %s has an undefined length", tagText(e.tag))
		}
		if e.tag == tagTransferSyntax {
			ts = strings.TrimRight(string(e.value), "\x00 ")
		}
	}
	var explicit bool
	switch ts {
	case tsExplicitLE:
		explicit = true
	case tsImplicitLE:
	case "":
		return nil, formatErr("DICOM file meta has no transfer syntax (0002,0010)")
	case tsExplicitBE:
		return nil, formatErr("DICOM transfer syntax Explicit VR Big Endian (%s, retired) is not supported: convert the file to little endian", tsExplicitBE)
	default:
		if name, ok := compressedSyntaxes[ts]; ok {
			return nil, formatErr("DICOM transfer syntax %s (%s) is compressed: dayi reads only uncompressed DICOM; decompress it first (e.g. dcmdjpeg, gdcmconv --raw)", name, ts)
		}
		if len(ts) > 64 || strings.Trim(ts, "0123456789.") != "" {
			return nil, formatErr("DICOM transfer syntax UID is malformed")
		}
		return nil, formatErr("DICOM transfer syntax %s is not supported (dayi reads uncompressed little endian only)", ts)
	}
	im := dcmImage{samples: 1, slope: 1}
	for r.pos < len(r.b) {
		e, err := r.next(explicit)
		if err != nil {
			return nil, err
		}
		if e.tag == tagPixelData {
			if e.length == undefinedLength {
				return nil, formatErr("DICOM pixel data is encapsulated (compressed) under an uncompressed transfer syntax")
			}
			im.pixels = e.value
			break
		}
		if e.length == undefinedLength {
			if err := r.skipSequence(explicit && e.vr != "UN", 1); err != nil {
				return nil, err
			}
			continue
		}
		if e.tag>>16 != 0x0028 {
			continue // never looked at: patient, study and device attributes
		}
		if err := im.set(e); err != nil {
			return nil, err
		}
	}
	return im.render(lim)
}

// set records one Image Pixel or VOI attribute.
func (im *dcmImage) set(e dcmElement) error {
	us := func(dst *int) error {
		if len(e.value) < 2 {
			return formatErr("DICOM %s must be a 2-byte US", tagText(e.tag))
		}
		*dst = int(binary.LittleEndian.Uint16(e.value))
		return nil
	}
	ds := func(dst *float64) (bool, error) {
		s := strings.TrimSpace(strings.TrimRight(string(e.value), "\x00"))
		if first, _, _ := strings.Cut(s, `\`); first != "" {
			v, err := strconv.ParseFloat(strings.TrimSpace(first), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return false, formatErr("DICOM %s is not a decimal number", tagText(e.tag))
			}
			*dst = v
			return true, nil
		}
		return false, nil
	}
	var v int
	var err error
	switch e.tag {
	case tagSamplesPerPixel:
		err = us(&im.samples)
	case tagRows:
		err = us(&im.rows)
	case tagColumns:
		err = us(&im.cols)
	case tagBitsAllocated:
		err = us(&im.bitsAlloc)
	case tagBitsStored:
		err = us(&im.bitsStored)
	case tagPixelRepr:
		err = us(&v)
		im.signed = v == 1
	case tagPlanarConfig:
		err = us(&v)
		im.planar = v == 1
	case tagPhotometric:
		im.photometric = strings.ToUpper(strings.TrimRight(string(e.value), "\x00 "))
	case tagVOIFunction:
		im.voiFunction = strings.ToUpper(strings.TrimRight(string(e.value), "\x00 "))
	case tagRescaleSlope:
		_, err = ds(&im.slope)
	case tagRescaleInter:
		_, err = ds(&im.intercept)
	case tagWindowCenter:
		im.hasWindow, err = ds(&im.center)
	case tagWindowWidth:
		var ok bool
		ok, err = ds(&im.width)
		im.hasWindow = im.hasWindow && ok
	}
	return err
}

// render checks the attributes against each other and the limits, then
// maps the first frame to 8 bits.
func (im *dcmImage) render(lim Limits) (image.Image, error) {
	if im.pixels == nil {
		return nil, formatErr("DICOM file has no pixel data (7FE0,0010)")
	}
	if err := checkPixels(im.cols, im.rows, lim); err != nil {
		return nil, err
	}
	if im.bitsAlloc != 8 && im.bitsAlloc != 16 {
		return nil, formatErr("DICOM BitsAllocated %d is not supported (8 or 16)", im.bitsAlloc)
	}
	if im.bitsStored == 0 {
		im.bitsStored = im.bitsAlloc
	}
	if im.bitsStored > im.bitsAlloc {
		return nil, formatErr("DICOM BitsStored %d exceeds BitsAllocated %d", im.bitsStored, im.bitsAlloc)
	}
	n := im.rows * im.cols
	frame := int64(n) * int64(im.samples) * int64(im.bitsAlloc/8)
	switch {
	case im.samples == 1 && (im.photometric == "MONOCHROME1" || im.photometric == "MONOCHROME2"):
	case im.samples == 3 && im.photometric == "RGB":
	case im.samples == 3 && im.photometric == "YBR_FULL":
	default:
		if len(im.photometric) > 16 || strings.Trim(im.photometric, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ") != "" {
			return nil, formatErr("DICOM PhotometricInterpretation is malformed")
		}
		return nil, formatErr("DICOM PhotometricInterpretation %q with %d samples per pixel is not supported (MONOCHROME1, MONOCHROME2, RGB, YBR_FULL)", im.photometric, im.samples)
	}
	if int64(len(im.pixels)) < frame {
		return nil, formatErr("DICOM pixel data has %d bytes, the first frame needs %d", len(im.pixels), frame)
	}
	if im.samples == 3 {
		return im.color(), nil
	}
	return im.gray(), nil
}

// stored returns pixel i's stored value: the low BitsStored bits, sign
// extended when PixelRepresentation is 1 (PS3.5 §8.1.1; HighBit is
// BitsStored − 1 in every current IOD).
func (im *dcmImage) stored(i int) float64 {
	var raw uint32
	if im.bitsAlloc == 8 {
		raw = uint32(im.pixels[i])
	} else {
		raw = uint32(binary.LittleEndian.Uint16(im.pixels[2*i:]))
	}
	bits := uint(im.bitsStored)
	raw &= 1<<bits - 1
	if im.signed && raw&(1<<(bits-1)) != 0 {
		return float64(int64(raw) - 1<<bits)
	}
	return float64(raw)
}

// gray applies the modality rescale, the VOI window (or the frame's min–max
// when the file has none) and MONOCHROME1's inversion.
func (im *dcmImage) gray() *image.Gray {
	n := im.rows * im.cols
	modality := func(i int) float64 { return im.stored(i)*im.slope + im.intercept }
	out := image.NewGray(image.Rect(0, 0, im.cols, im.rows))
	var voi func(x float64) float64
	switch {
	case im.hasWindow && im.voiFunction == "LINEAR_EXACT" && im.width > 0:
		voi = func(x float64) float64 { return linearExact(x, im.center, im.width) }
	case im.hasWindow && im.voiFunction == "SIGMOID" && im.width > 0:
		voi = func(x float64) float64 { return sigmoid(x, im.center, im.width) }
	case im.hasWindow && im.width >= 1:
		voi = func(x float64) float64 { return linear(x, im.center, im.width) }
	default:
		// No usable window: stretch the frame's own range, as viewers do.
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			v := modality(i)
			lo, hi = min(lo, v), max(hi, v)
		}
		voi = func(x float64) float64 {
			if hi <= lo {
				return 0
			}
			return (x - lo) / (hi - lo) * 255
		}
	}
	invert := im.photometric == "MONOCHROME1"
	for i := 0; i < n; i++ {
		y := math.Round(voi(modality(i)))
		y = min(max(y, 0), 255)
		if invert {
			y = 255 - y
		}
		out.Pix[i] = uint8(y)
	}
	return out
}

// linear is the VOI LUT function LINEAR (PS3.3 C.11.2.1.2.1) onto 0–255:
// x ≤ c − 0.5 − (w−1)/2 → 0; x > c − 0.5 + (w−1)/2 → 255; otherwise
// ((x − (c − 0.5)) / (w−1) + 0.5) × 255. The caller ensures w ≥ 1; w = 1 is
// a threshold at c − 0.5.
func linear(x, c, w float64) float64 {
	switch {
	case x <= c-0.5-(w-1)/2:
		return 0
	case x > c-0.5+(w-1)/2:
		return 255
	}
	return ((x-(c-0.5))/(w-1) + 0.5) * 255
}

// linearExact is LINEAR_EXACT (PS3.3 C.11.2.1.3.2): x ≤ c − w/2 → 0;
// x > c + w/2 → 255; otherwise ((x − c) / w + 0.5) × 255.
func linearExact(x, c, w float64) float64 {
	switch {
	case x <= c-w/2:
		return 0
	case x > c+w/2:
		return 255
	}
	return ((x-c)/w + 0.5) * 255
}

// sigmoid is SIGMOID (PS3.3 C.11.2.1.3.1): 255 / (1 + exp(−4 (x − c) / w)).
func sigmoid(x, c, w float64) float64 {
	return 255 / (1 + math.Exp(-4*(x-c)/w))
}

// color reads RGB or YBR_FULL samples, interleaved or planar; 16-bit
// samples keep their top 8 stored bits. Colour images have no VOI window.
func (im *dcmImage) color() *image.RGBA {
	n := im.rows * im.cols
	out := image.NewRGBA(image.Rect(0, 0, im.cols, im.rows))
	scale := 1.0
	if im.bitsStored > 8 {
		scale = 255 / float64(int(1)<<im.bitsStored-1)
	}
	for i := 0; i < n; i++ {
		var s [3]float64
		for k := range s {
			j := 3*i + k
			if im.planar {
				j = k*n + i
			}
			s[k] = im.stored(j)
			if im.signed { // signed colour is retired; centre it
				s[k] += float64(int(1) << (im.bitsStored - 1))
			}
			s[k] *= scale
		}
		if im.photometric == "YBR_FULL" {
			// PS3.3 C.7.6.3.1.2: full-range ITU-R BT.601.
			y, cb, cr := s[0], s[1]-128, s[2]-128
			s = [3]float64{y + 1.402*cr, y - 0.344136*cb - 0.714136*cr, y + 1.772*cb}
		}
		for k := range s {
			out.Pix[4*i+k] = uint8(min(max(math.Round(s[k]), 0), 255))
		}
		out.Pix[4*i+3] = 255
	}
	return out
}
