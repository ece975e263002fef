//go:build ignore

// gen writes the synthetic DICOM files of imageio's dcmtk cross-check
// (TestDICOMMatchesDCMTK) and cases.txt, the dcm2pnm options of each; gen.sh
// then renders each with dcmtk's dcm2pnm. Run from the repository root:
//
//	bash imageio/testdata/dcmtk/gen.sh
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"dayi/imageio/dcmtest"
)

func main() {
	dir := os.Args[1]
	seed := uint32(12345)
	rnd := func(n int) int { // a fixed LCG: the files are the same on every run
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	u16 := func(n, lo, hi int) []byte {
		v := make([]int, n)
		for i := range v {
			v[i] = lo + rnd(hi-lo+1)
		}
		return dcmtest.U16(v...)
	}
	u8 := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd(256))
		}
		return b
	}
	signed12 := func(n int) []byte {
		v := make([]int, n)
		for i := range v {
			v[i] = (rnd(4096) - 2048) & 0xffff // two's complement in 16 bits
		}
		return dcmtest.U16(v...)
	}
	const w, h = 16, 12
	cases := []struct {
		name, opts string
		f          dcmtest.File
	}{
		{"ct16_window_explicit", "+Wi 1", dcmtest.File{Rows: h, Cols: w, BitsAlloc: 16, BitsStored: 12, Photometric: "MONOCHROME2",
			Intercept: "-1024", Slope: "1", Center: "40", Width: "400", Pixels: u16(w*h, 700, 1400)}},
		{"ct16_window_implicit", "+Wi 1", dcmtest.File{Implicit: true, Rows: h, Cols: w, BitsAlloc: 16, BitsStored: 12, Photometric: "MONOCHROME2",
			Intercept: "-1024", Slope: "1", Center: "-600", Width: "1500", Pixels: u16(w*h, 0, 4095)}},
		{"slope_multiwindow", "+Wi 1", dcmtest.File{Rows: h, Cols: w, BitsAlloc: 16, BitsStored: 16, Photometric: "MONOCHROME2",
			Intercept: "-10", Slope: "2.5", Center: `300\1000`, Width: `501\100`, Pixels: u16(w*h, 0, 250)}},
		{"mr16_minmax", "+Wm", dcmtest.File{Rows: h, Cols: w, BitsAlloc: 16, BitsStored: 12, Photometric: "MONOCHROME2", Pixels: u16(w*h, 100, 3000)}},
		{"signed12_minmax", "+Wm", dcmtest.File{Rows: h, Cols: w, BitsAlloc: 16, BitsStored: 12, Signed: true, Photometric: "MONOCHROME2", Pixels: signed12(w * h)}},
		{"cr8_mono1_window", "+Wi 1", dcmtest.File{Implicit: true, Rows: h, Cols: w, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME1",
			Center: "128", Width: "200", Pixels: u8(w * h)}},
		{"mono1_minmax", "+Wm", dcmtest.File{Rows: h, Cols: w, BitsAlloc: 8, BitsStored: 8, Photometric: "MONOCHROME1", Pixels: u8(w * h)}},
		{"rgb8_interleaved", "", dcmtest.File{Rows: h, Cols: w, Samples: 3, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Pixels: u8(3 * w * h)}},
		{"rgb8_planar_implicit", "", dcmtest.File{Implicit: true, Rows: h, Cols: w, Samples: 3, Planar: true, BitsAlloc: 8, BitsStored: 8, Photometric: "RGB", Pixels: u8(3 * w * h)}},
	}
	var list []byte
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.name+".dcm"), c.f.Bytes(), 0o644); err != nil {
			panic(err)
		}
		list = fmt.Appendf(list, "%s\t%s\n", c.name, c.opts)
	}
	if err := os.WriteFile(filepath.Join(dir, "cases.txt"), list, 0o644); err != nil {
		panic(err)
	}
}
