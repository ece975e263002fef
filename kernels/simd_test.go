package kernels

import (
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"

	"dayi/weights"
)

// TestSIMDMatchesDispatch checks that the path `dayi version` reports is the
// one the kernels really took: the 512-bit VNNI path exactly when the packed
// VNNI gemm kernels are installed, pure Go exactly when the CPU lacks
// AVX2+FMA (and always off amd64, where there is no assembly).
func TestSIMDMatchesDispatch(t *testing.T) {
	got := SIMD()
	switch got {
	case SIMDAVX512VNNI, SIMDAVX512VNNI256, SIMDAVX512, SIMDAVX2, SIMDPureGo:
	default:
		t.Fatalf("SIMD() = %q, not one of the documented paths", got)
	}
	if runtime.GOARCH != "amd64" {
		if got != SIMDPureGo {
			t.Fatalf("SIMD() on %s = %q, want %q", runtime.GOARCH, got, SIMDPureGo)
		}
		return
	}
	if _, packed := packedKernels(weights.TypeQ4_0); packed != (got == SIMDAVX512VNNI) {
		t.Errorf("SIMD() = %q but packed VNNI kernels installed = %v", got, packed)
	}
	avx2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	if (got == SIMDPureGo) == avx2 {
		t.Errorf("SIMD() = %q on a CPU with AVX2+FMA = %v", got, avx2)
	}
	if got == SIMDAVX512VNNI256 && !cpu.X86.HasAVX512VNNI {
		t.Errorf("SIMD() = %q on a CPU without AVX-512 VNNI", got)
	}
	t.Logf("kernel path: %s", got)
}
