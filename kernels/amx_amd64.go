package kernels

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"

	"dayi/weights"
)

//go:noescape
func gemm16AMX(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

//go:noescape
func gemm16AMXR16Q8(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

//go:noescape
func gemmK16AMXQ4K(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte)

// gemmK16AMXKernel returns the AMX kernel for decoded q4_K groups when it
// may run.
func gemmK16AMXKernel(t weights.Type) (func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte), bool) {
	if t != weights.TypeQ4_K || !amxReady() {
		return nil, false
	}
	return gemmK16AMXQ4K, true
}

// amxReady says whether gemm16AMX may run: the CPU has AMX-TILE and
// AMX-INT8 (and the AVX-512 the epilogue needs), DAYI_AMX is not "0", and
// the OS granted the tile state. It asks the OS once per process, as the
// permission is per process.
var amxReady = sync.OnceValue(func() bool {
	if !hasZVNNI || !cpu.X86.HasAMXTile || !cpu.X86.HasAMXInt8 || os.Getenv("DAYI_AMX") == "0" {
		return false
	}
	return requestAMX()
})

// gemm16AMXKernel returns the AMX kernel for weights of type t in layout l
// when it may run. inPlace says it reads the weight group as stored
// (q8_0 Rows16, whose block tiles are already B tiles: gemm16AMXR16Q8);
// otherwise it takes the group g16dec decoded (gemm16AMX).
func gemm16AMXKernel(t weights.Type, l Layout) (k func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int), inPlace, ok bool) {
	if !amxReady() {
		return nil, false, false
	}
	if t == weights.TypeQ8_0 && l == LayoutRows16 {
		return gemm16AMXR16Q8, true, true
	}
	return gemm16AMX, false, true
}

// amxCbuf returns the 64-byte aligned 1 KiB C-tile scratch inside b
// (at least amxCbufBytes long).
func amxCbuf(b []byte) *byte {
	off := (64 - int(uintptr(unsafe.Pointer(&b[0]))&63)) & 63
	return &b[off]
}
