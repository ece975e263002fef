package compare

import (
	"os/exec"
	"testing"
)

// A child's peak RSS must be its own: ru_maxrss of a child started (vfork,
// exec) by a process holding 256 MiB reports at least those 256 MiB, while
// the polled VmHWM of a `sleep` is a few MiB.
func TestWatchPeakRSSIsTheChilds(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep binary")
	}
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := watchPeakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	own, rusage := stop(), maxRSS(cmd.ProcessState)
	t.Logf("sleep: polled VmHWM %d KiB, ru_maxrss %d KiB (parent holds %d MiB)", own>>10, rusage>>10, len(ballast)>>20)
	if own <= 0 || own > 64<<20 {
		t.Errorf("polled peak RSS of sleep %d bytes, want (0, 64 MiB]", own)
	}
	if rusage < 200<<20 {
		t.Logf("ru_maxrss did not inherit the parent's high-water mark here (%d bytes)", rusage)
	}
	_ = ballast[len(ballast)-1]
}
