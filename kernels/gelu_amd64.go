package kernels

import "golang.org/x/sys/cpu"

// hasGeluAsm: geluF16Row16 needs AVX-512 F (gathers, mask compares) and
// F16C's conversion in its EVEX form.
var hasGeluAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

// geluF16Row16 is GeluF16Row on n values (n a multiple of 16) with table t.
//
//go:noescape
func geluF16Row16(v *float32, n int, t *float32)

// geluF16Row8 is geluF16Row16 in AVX2 (hasAVX2 hosts; F16C comes with it),
// n a multiple of 8: without it, AVX2 hosts ran GELU through the Go twin,
// whose software f16 conversion took ~3 % of a gemma3-1b prefill.
//
//go:noescape
func geluF16Row8(v *float32, n int, t *float32)
