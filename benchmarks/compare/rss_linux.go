package compare

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxRSS is a finished child's peak resident set (wait4 rusage, KiB on Linux).
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// SelfPeakRSS is this process's VmHWM (peak resident set) in bytes, 0 when
// /proc is unavailable.
func SelfPeakRSS() int64 {
	fd, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fd.Close()
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
