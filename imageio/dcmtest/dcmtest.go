// Package dcmtest writes small synthetic DICOM Part 10 files for imageio's
// tests and for the generator of its dcmtk cross-check fixtures
// (imageio/testdata/dcmtk/gen.sh). It writes what PS3.10 §7 and PS3.5 §7
// describe, independently of imageio's reader.
package dcmtest

import (
	"encoding/binary"
	"fmt"
)

// File describes one single- or multi-frame image.
type File struct {
	Implicit       bool   // implicit VR little endian (else explicit VR little endian)
	TransferSyntax string // overrides the one Implicit picks
	Rows, Cols     int
	Samples        int // 1 or 3
	BitsAlloc      int
	BitsStored     int
	Signed         bool
	Planar         bool
	Photometric    string
	Slope          string // DS text; "" leaves it out
	Intercept      string
	Center, Width  string // DS text, may hold several values separated by \
	VOIFunction    string
	Frames         int
	Pixels         []byte   // every frame, little endian
	Extra          [][]byte // raw elements written after the image attributes, before the pixel data
	PatientName    string   // written as (0010,0010), to check that nothing ever echoes it
}

// UID values.
const (
	ImplicitLE = "1.2.840.10008.1.2"
	ExplicitLE = "1.2.840.10008.1.2.1"
)

func pad(v []byte, vr string) []byte {
	if len(v)%2 == 0 {
		return v
	}
	switch vr {
	case "UI", "OB", "UN":
		return append(v, 0)
	}
	return append(v, ' ')
}

// Elem encodes one element with a defined length.
func Elem(implicit bool, tag uint32, vr string, value []byte) []byte {
	value = pad(append([]byte(nil), value...), vr)
	b := binary.LittleEndian.AppendUint16(nil, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	switch {
	case implicit:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	case long(vr):
		b = append(b, vr...)
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	default:
		b = append(b, vr...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	}
	return append(b, value...)
}

// UndefinedSeq encodes a sequence of undefined length holding items of
// undefined length, each holding the given raw elements.
func UndefinedSeq(implicit bool, tag uint32, items ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	if !implicit {
		b = append(b, "SQ"...)
		b = append(b, 0, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, 0xffffffff)
	for _, it := range items {
		b = append(b, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff)
		b = append(b, it...)
		b = append(b, 0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0)
	}
	return append(b, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0)
}

func long(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

func us(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }

// Bytes encodes f.
func (f File) Bytes() []byte {
	ts := f.TransferSyntax
	if ts == "" {
		ts = ExplicitLE
		if f.Implicit {
			ts = ImplicitLE
		}
	}
	sopClass := "1.2.840.10008.5.1.4.1.1.7" // Secondary Capture Image Storage
	sopInst := "1.2.826.0.1.3680043.2.1125.1.1"
	var meta []byte
	meta = append(meta, Elem(false, 0x00020001, "OB", []byte{0, 1})...)
	meta = append(meta, Elem(false, 0x00020002, "UI", []byte(sopClass))...)
	meta = append(meta, Elem(false, 0x00020003, "UI", []byte(sopInst))...)
	meta = append(meta, Elem(false, 0x00020010, "UI", []byte(ts))...)
	meta = append(meta, Elem(false, 0x00020012, "UI", []byte("1.2.826.0.1.3680043.2.1125.9"))...)
	out := make([]byte, 128, 1024+len(f.Pixels))
	out = append(out, "DICM"...)
	out = append(out, Elem(false, 0x00020000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))...)
	out = append(out, meta...)

	im := f.Implicit
	out = append(out, Elem(im, 0x00080016, "UI", []byte(sopClass))...)
	out = append(out, Elem(im, 0x00080018, "UI", []byte(sopInst))...)
	out = append(out, Elem(im, 0x00080060, "CS", []byte("OT"))...)
	if f.PatientName != "" {
		out = append(out, Elem(im, 0x00100010, "PN", []byte(f.PatientName))...)
		out = append(out, Elem(im, 0x00100020, "LO", []byte(f.PatientName+"-ID"))...)
	}
	out = append(out, Elem(im, 0x0020000d, "UI", []byte("1.2.826.0.1.3680043.2.1125.2"))...)
	out = append(out, Elem(im, 0x0020000e, "UI", []byte("1.2.826.0.1.3680043.2.1125.3"))...)
	samples := f.Samples
	if samples == 0 {
		samples = 1
	}
	out = append(out, Elem(im, 0x00280002, "US", us(samples))...)
	out = append(out, Elem(im, 0x00280004, "CS", []byte(f.Photometric))...)
	if samples == 3 {
		planar := 0
		if f.Planar {
			planar = 1
		}
		out = append(out, Elem(im, 0x00280006, "US", us(planar))...)
	}
	if f.Frames > 1 {
		out = append(out, Elem(im, 0x00280008, "IS", []byte(fmt.Sprint(f.Frames)))...)
	}
	out = append(out, Elem(im, 0x00280010, "US", us(f.Rows))...)
	out = append(out, Elem(im, 0x00280011, "US", us(f.Cols))...)
	out = append(out, Elem(im, 0x00280100, "US", us(f.BitsAlloc))...)
	out = append(out, Elem(im, 0x00280101, "US", us(f.BitsStored))...)
	out = append(out, Elem(im, 0x00280102, "US", us(f.BitsStored-1))...)
	pr := 0
	if f.Signed {
		pr = 1
	}
	out = append(out, Elem(im, 0x00280103, "US", us(pr))...)
	if f.Center != "" {
		out = append(out, Elem(im, 0x00281050, "DS", []byte(f.Center))...)
	}
	if f.Width != "" {
		out = append(out, Elem(im, 0x00281051, "DS", []byte(f.Width))...)
	}
	if f.Intercept != "" {
		out = append(out, Elem(im, 0x00281052, "DS", []byte(f.Intercept))...)
	}
	if f.Slope != "" {
		out = append(out, Elem(im, 0x00281053, "DS", []byte(f.Slope))...)
	}
	if f.VOIFunction != "" {
		out = append(out, Elem(im, 0x00281056, "CS", []byte(f.VOIFunction))...)
	}
	for _, e := range f.Extra {
		out = append(out, e...)
	}
	vr := "OW"
	if f.BitsAlloc == 8 {
		vr = "OB"
	}
	return append(out, Elem(im, 0x7fe00010, vr, f.Pixels)...)
}

// U16 packs 16-bit samples little endian.
func U16(v ...int) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, uint16(x))
	}
	return b
}
