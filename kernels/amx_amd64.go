package kernels

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"

	"dayi/weights"
)

//go:noescape
func gemm16AMXW2(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

//go:noescape
func gemm16AMXW1(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

//go:noescape
func gemm16AMXR16Q8W2(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

//go:noescape
func gemm16AMXR16Q8W1(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

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

// gemm16AMXKernels returns the AMX kernels for weights of type t in
// layout l when they may run (the zero value otherwise).
func gemm16AMXKernels(t weights.Type, l Layout) amx16Kernels {
	if !amxReady() {
		return amx16Kernels{}
	}
	if t == weights.TypeQ8_0 && l == LayoutRows16 {
		return amx16Kernels{two: gemm16AMXR16Q8W2, one: gemm16AMXR16Q8W1, inPlace: true}
	}
	return amx16Kernels{two: gemm16AMXW2, one: gemm16AMXW1}
}

// amxCbuf returns the 64-byte aligned 1 KiB C-tile scratch inside b
// (at least amxCbufBytes long).
func amxCbuf(b []byte) *byte {
	off := (64 - int(uintptr(unsafe.Pointer(&b[0]))&63)) & 63
	return &b[off]
}
