package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func gemvR16Q5_0(w, x *byte, nb int, out *float32)

// gemvR16Q5_0HW is gemvR16Q5_0 without software prefetch (stream_amd64.go).
//
//go:noescape
func gemvR16Q5_0HW(w, x *byte, nb int, out *float32)

//go:noescape
func decR16Q5_0(w *byte, wstride, nb int, dst *byte)

// hasR16Q5 gates the q5_0 Rows16 kernels (VPSHUFBITQMB is AVX512_BITALG).
var hasR16Q5 = hasZVNNI && cpu.X86.HasAVX512BITALG

func gemvR16AsmQ5_0(w, x []byte, nb int, out []float32) { gemvR16Q5_0(&w[0], &x[0], nb, &out[0]) }
