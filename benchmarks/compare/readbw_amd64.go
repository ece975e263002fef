package compare

import "golang.org/x/sys/cpu"

// sumAVX2* and sumAVX512* (readbw_amd64.s) return sumGo of p[:n] for n a
// multiple of 256 and 512 respectively; the *PF ones prefetch ahead.
//
//go:noescape
func sumAVX2(p *byte, n int) uint64

//go:noescape
func sumAVX2PF(p *byte, n int) uint64

//go:noescape
func sumAVX512(p *byte, n int) uint64

//go:noescape
func sumAVX512PF(p *byte, n int) uint64

// sumWords returns the wrapping sum of the little-endian 64-bit words of
// b (len(b) a multiple of 8) with the widest read loop the CPU has, with
// or without software prefetch.
func sumWords(b []byte, prefetch bool) uint64 {
	var s uint64
	switch {
	case cpu.X86.HasAVX512F:
		f := sumAVX512
		if prefetch {
			f = sumAVX512PF
		}
		n := len(b) &^ 511
		if n > 0 {
			s = f(&b[0], n)
		}
		b = b[n:]
	case cpu.X86.HasAVX2:
		f := sumAVX2
		if prefetch {
			f = sumAVX2PF
		}
		n := len(b) &^ 255
		if n > 0 {
			s = f(&b[0], n)
		}
		b = b[n:]
	}
	return s + sumGo(b)
}
