package kernels

import "os"

// cpuidVendor returns CPUID leaf 0's vendor string registers (EBX, EDX,
// ECX spell e.g. "AuthenticAMD" in that order).
//
//go:noescape
func cpuidVendor() (b, d, c uint32)

// vendor is the CPU's vendor string, e.g. "GenuineIntel", "AuthenticAMD".
func vendor() string {
	b, d, c := cpuidVendor()
	v := make([]byte, 0, 12)
	for _, r := range [3]uint32{b, d, c} {
		v = append(v, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	return string(v)
}

// streamPrefetch says whether the Rows16 decode kernels (one activation
// row: q4_0, q5_0, q8_0, q4_K, q5_K, q6_K on AVX-512; q4_0, q5_0, q8_0,
// q4_K on AVX2) issue their own prefetches, every line a few KB ahead into
// L1 (PREFETCHT0) and twice as far into L2 (PREFETCHT2), or leave the
// weight stream to the hardware prefetchers. It is chosen per CPU vendor,
// by measurement (BenchmarkRows16Stream: one goroutine, 512 MiB of
// groups, each kernel's share of a plain read of the same bytes measured
// alternately):
//
//   - Intel (Sapphire Rapids VM): the prefetches pay, q4_0 10.7 -> 12.9
//     GB/s on one thread and 19.5 -> 24.0 on two (rows16_amd64.s, PF4).
//   - AMD (Zen 4 EPYC VM, 2026-12-07, 3 runs of one binary): they cost.
//     Share of the read with / without: q4_0 0.71-0.74 / 0.89-0.94, q5_0
//     0.73-0.74 / 0.91-0.94, q4_K 0.71-0.76 / 0.93-1.0, q5_K 0.70-0.71 /
//     0.84-0.91, q6_K 0.67-0.69 / 0.87-0.91, q8_0 0.92-0.95 / 0.94-1.0.
//     The AVX2 kernels on the same CPU (AVX-512 masked): q4_0 22.6 / 26.7
//     GB/s, q8_0 23 / 25, q4_K 14.2 / 17.8. Zen's L2 stream prefetcher
//     keeps a stream in flight by itself; the software prefetches take
//     load slots and miss buffers from it.
//
// q5_K and q6_K needed their tiles stored in the order the kernels read
// them first (rows16k.go): as two or three interleaved streams Zen 4's
// prefetchers did not follow them (q6_K 10 GB/s without software
// prefetch, 20 with). The multi-row kernels (2..8 activation rows, serving
// batches) and AVX2's q5_K (bound by its arithmetic) keep their prefetches
// everywhere; they were not measured without. DAYI_PREFETCH=sw or =hw
// overrides the choice, for measurements on other CPUs.
var streamPrefetch = chooseStreamPrefetch(vendor(), os.Getenv("DAYI_PREFETCH"))

// chooseStreamPrefetch is streamPrefetch's rule: the override when it is
// "sw" or "hw", else software prefetch on every vendor but AMD (and Hygon,
// whose cores are Zen).
func chooseStreamPrefetch(vendor, override string) bool {
	switch override {
	case "sw":
		return true
	case "hw":
		return false
	}
	return vendor != "AuthenticAMD" && vendor != "HygonGenuine"
}
