package kernels

import (
	"os"
	"strings"
	"testing"
)

// TestVendor checks CPUID's vendor string against the kernel's view of
// the same CPU (/proc/cpuinfo's vendor_id), where Linux shows one.
func TestVendor(t *testing.T) {
	v := vendor()
	if len(v) != 12 {
		t.Fatalf("vendor %q: want 12 bytes", v)
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo")
	}
	for _, line := range strings.Split(string(info), "\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "vendor_id" {
			if got := strings.TrimSpace(val); got != v {
				t.Fatalf("CPUID vendor %q, /proc/cpuinfo %q", v, got)
			}
			return
		}
	}
	t.Skip("/proc/cpuinfo names no vendor_id")
}

func TestChooseStreamPrefetch(t *testing.T) {
	for _, c := range []struct {
		vendor, override string
		want             bool
	}{
		{"GenuineIntel", "", true},
		{"AuthenticAMD", "", false},
		{"HygonGenuine", "", false},
		{"CentaurHauls", "", true},
		{"AuthenticAMD", "sw", true},
		{"GenuineIntel", "hw", false},
		{"AuthenticAMD", "bogus", false},
	} {
		if got := chooseStreamPrefetch(c.vendor, c.override); got != c.want {
			t.Errorf("chooseStreamPrefetch(%q, %q) = %v, want %v", c.vendor, c.override, got, c.want)
		}
	}
}
