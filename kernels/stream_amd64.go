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

// streamPrefetch says whether the Rows16 decode kernels whose group is one
// linear stream (q4_0, q5_0, q8_0, q4_K, q6_K; the AVX-512 kernels and
// the AVX2 one-row ones) issue their own prefetches, every line a few KB ahead
// into L1 (PREFETCHT0) and twice as far into L2 (PREFETCHT2), or leave the
// stream to the hardware prefetchers. It is chosen per CPU vendor, by
// measurement (BenchmarkRows16Stream: one goroutine, 512 MiB of groups,
// share of a plain read of the same bytes in the same minute):
//
//   - Intel (Sapphire Rapids VM): the prefetches pay, q4_0 10.7 -> 12.9
//     GB/s on one thread and 19.5 -> 24.0 on two (rows16_amd64.s, PF4).
//   - AMD (Zen 4 EPYC VM, 2026-12-07): they cost. Of the read, with and
//     without: q4_0 0.73 / 0.91, q5_0 0.74 / 0.92, q4_K 0.71 / 0.94, q8_0
//     0.96 / 0.91 (level within this VM's noise); the AVX2 kernels on the
//     same CPU (AVX-512 masked) q4_0 22.6 / 26.7 GB/s, q8_0 23 / 25, q4_K
//     14.2 / 17.8. Zen's L2 stream prefetcher keeps a linear stream in
//     flight by itself; the software prefetches take load slots and miss
//     buffers from it.
//
// q6_K joined them once its tile was stored in the order its kernel reads
// it (rows16k.go): from three interleaved streams, which Zen 4's
// prefetchers did not follow (10 GB/s without software prefetch, 20 with),
// to one, 0.72 of the read with prefetches and 0.83 without (medians of 5
// alternating runs). q5_K, which reads its high bits as a second stream,
// keeps its prefetches everywhere. The multi-row kernels (2..8 activation rows) keep theirs too;
// they were not measured without. DAYI_PREFETCH=sw or =hw overrides the
// choice, for measurements on other CPUs.
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
