package kernels

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAVX2OnlyHost runs this package's tests again in a child process that
// sees an AVX2-only CPU, so the AVX2 plans (rows16-avx2, kpacked on AVX2,
// the AVX2 SiLU) are exercised end to end on the AVX-512 machines CI runs
// on, not only kernel by kernel. On a CPU without AVX-512 the package's
// own run already is that run.
func TestAVX2OnlyHost(t *testing.T) {
	if os.Getenv("DAYI_KERNELS_AVX2_CHILD") != "" {
		if hasZ512 || hasZVNNI || !hasAVX2 {
			t.Fatalf("child: GODEBUG=%s left AVX-512 %v, VNNI %v, AVX2 %v", os.Getenv("GODEBUG"), hasZ512, hasZVNNI, hasAVX2)
		}
		return
	}
	if !hasZ512 || !hasAVX2 {
		t.Skip("no AVX-512 to mask: this run is the AVX2 (or portable) run")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG="+AVX2OnlyGodebug, "DAYI_KERNELS_AVX2_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests on an AVX2-only CPU failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child run printed no PASS:\n%s", out)
	}
}
