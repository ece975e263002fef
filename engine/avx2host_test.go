package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"dayi/kernels"
)

// avx2ParityTests are the engine's llama.cpp-reference tests that go
// through the quantized matmuls, SiLU and prefill attention, the kernels
// an AVX2-only CPU runs differently.
const avx2ParityTests = "^(TestSynthOwnBackend|TestSynthKQuantTop10|TestSynthGemma2|TestQuantizedStoriesMatchLlamaCpp|" +
	"TestLlama2TinyRandomTop10|TestDecodeBatchMatchesLlamaCpp|TestWarmupAndSplitPrefillKeepLlamaCppLogits|" +
	"TestKVQuantAgainstLlamaCpp|TestRopeScalingAgainstLlamaCpp)$"

// TestAVX2OnlyHostMatchesLlamaCpp reruns those tests in a child process
// that sees a CPU without AVX-512 (kernels.AVX2OnlyGodebug), so the AVX2
// kernels are held to llama.cpp's logits on the AVX-512 machines CI runs
// on: kernels' own twin tests cannot see a float order that is exact but
// not llama.cpp's (the AVX2 q4_K prefill once folded per super-block where
// llama.cpp's GEMM folds per 64 values: TestSynthKQuantTop10 caught it
// only when run this way).
func TestAVX2OnlyHostMatchesLlamaCpp(t *testing.T) {
	if os.Getenv("DAYI_ENGINE_AVX2_CHILD") != "" {
		if kernels.SIMD() != kernels.SIMDAVX2 {
			t.Fatalf("child: kernels chose %q under GODEBUG=%s", kernels.SIMD(), os.Getenv("GODEBUG"))
		}
		return
	}
	if kernels.SIMD() != kernels.SIMDAVX512VNNI && kernels.SIMD() != kernels.SIMDAVX512 {
		t.Skipf("kernels run %q here: no AVX-512 to mask", kernels.SIMD())
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.run="+avx2ParityTests+"|^TestAVX2OnlyHostMatchesLlamaCpp$")
	cmd.Env = append(os.Environ(), "GODEBUG="+kernels.AVX2OnlyGodebug, "DAYI_ENGINE_AVX2_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("llama.cpp parity on an AVX2-only CPU failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child run printed no PASS:\n%s", out)
	}
}
