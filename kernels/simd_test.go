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
// AVX2+FMA on amd64 (and always on architectures without assembly), NEON
// dotprod exactly when an arm64 CPU has the dot-product extension.
func TestSIMDMatchesDispatch(t *testing.T) {
	got := SIMD()
	switch got {
	case SIMDAVX512VNNI, SIMDAVX512VNNI256, SIMDAVX512, SIMDAVX2, SIMDNEONDot, SIMDNEON, SIMDPureGo:
	default:
		t.Fatalf("SIMD() = %q, not one of the documented paths", got)
	}
	if runtime.GOARCH == "arm64" {
		if want := map[bool]string{true: SIMDNEONDot, false: SIMDNEON}[cpu.ARM64.HasASIMDDP]; got != want {
			t.Fatalf("SIMD() on arm64 with dot product %v = %q, want %q", cpu.ARM64.HasASIMDDP, got, want)
		}
		return
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
