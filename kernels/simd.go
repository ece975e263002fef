package kernels

// The instruction-set paths SIMD reports. They are what an operator reads in
// `dayi version` to know which kernels a box runs. Most Go-assembly kernels
// exist for amd64 only; arm64 (the boxes of small clinics) has NEON
// attention kernels everywhere and NEON q4_0, q8_0, q4_K, q5_K and q6_K dots
// where the CPU has the dot-product extension; the rest, and every other
// architecture, computes with the pure-Go twins.
const (
	SIMDAVX512VNNI    = "AVX-512 VNNI"           // 512-bit VNNI gemm/gemv, 16-row repacked weights
	SIMDAVX512VNNI256 = "AVX-512 VNNI (256-bit)" // VNNI dot products on 256-bit registers
	SIMDAVX512        = "AVX-512 (no VNNI)"      // AVX-512 float kernels, AVX2 quantized dots
	SIMDAVX2          = "AVX2"                   // AVX2+FMA+F16C kernels
	SIMDNEONDot       = "NEON dotprod"           // arm64 with SDOT: NEON q4_0/q8_0/K-quant dots, the rest pure Go
	SIMDNEON          = "NEON"                   // arm64 without SDOT: NEON attention and FMADD, the dots pure Go
	SIMDPureGo        = "pure Go"                // no assembly: the portable twins
)

// SIMD names the kernel path that dispatch chose for this CPU when the package
// was initialised (one of the SIMD* constants). It never changes afterwards.
func SIMD() string { return simdPath() }

// AVX2OnlyGodebug is the GODEBUG setting under which this package takes
// the paths of a CPU with AVX2 but no AVX-512 (Zen 2/3 EPYCs, Haswell to
// Skylake client parts): golang.org/x/sys/cpu reads it at start-up, and
// the gates need AVX-512 F/BW/VL (and with them VNNI and AMX). Tests rerun
// themselves under it so that AVX-512 machines check the AVX2 paths too,
// and benchmarks/README.md measures AVX2 hosts with it.
const AVX2OnlyGodebug = "cpu.avx512f=off,cpu.avx512bw=off,cpu.avx512vl=off,cpu.avx512dq=off"

// StreamPrefetch says who prefetches the decode kernels' weight streams on
// this CPU: "software" (prefetch instructions in the kernels) or
// "hardware" (the CPU's prefetchers alone); stream_amd64.go chooses per
// CPU vendor, by measurement.
func StreamPrefetch() string {
	if streamPrefetch {
		return "software"
	}
	return "hardware"
}
