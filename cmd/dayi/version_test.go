package main

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"dayi/kernels"
)

// TestVersionStamped: what scripts/release.sh stamps with -ldflags -X
// (main.version, main.commit) is what `dayi version` and `--json` print, next
// to the toolchain, platform and the kernel path dispatch chose.
func TestVersionStamped(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })
	version, commit = "9.8.7-test", "0123456789abcdef"

	var got map[string]string
	if err := json.Unmarshal([]byte(runCmd(t, "", "version", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"version": "9.8.7-test", "commit": "0123456789abcdef", "go": runtime.Version(),
		"os": runtime.GOOS, "arch": runtime.GOARCH, "simd": kernels.SIMD(),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("version --json %s = %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("version --json has keys %v, want exactly %d", got, len(want))
	}

	text := runCmd(t, "", "version")
	for _, w := range []string{"dayi 9.8.7-test\n", "commit: 0123456789abcdef\n", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "simd:   " + kernels.SIMD() + "\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("dayi version = %q, missing %q", text, w)
		}
	}
}

// TestVersionUnstampedCommit: without -X main.commit the commit is the
// toolchain's vcs stamp or "unknown", never empty.
func TestVersionUnstampedCommit(t *testing.T) {
	old := commit
	t.Cleanup(func() { commit = old })
	commit = ""
	if c := buildCommit(); c != "unknown" && !regexp.MustCompile(`^[0-9a-f]{40}(\+dirty)?$`).MatchString(c) {
		t.Fatalf("buildCommit() without a stamp = %q, want a vcs revision or \"unknown\"", c)
	}
}
