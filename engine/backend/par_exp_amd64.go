package backend

import "golang.org/x/sys/cpu"

// hasAVX2 gates expNegAbsAVX2 (AVX2 integer ops and VGATHERQPD).
var hasAVX2 = cpu.X86.HasAVX2

// expNegAbsAVX2 is expNegAbsGo on 4 lanes at a time for n/4*4 elements
// (par_exp_amd64.s); n/4*4 elements of x and e must be valid.
//
//go:noescape
func expNegAbsAVX2(x *float32, e *float64, n int)

// expNegAbs is expNegAbsGo, by the assembly where the CPU has AVX2.
func expNegAbs(x []float32, e []float64) {
	e = e[:len(x)]
	n := 0
	if hasAVX2 && len(x) >= 4 {
		n = len(x) &^ 3
		expNegAbsAVX2(&x[0], &e[0], n)
	}
	expNegAbsGo(x[n:], e[n:])
}
