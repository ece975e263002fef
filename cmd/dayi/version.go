package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"dayi/kernels"
)

// commit is set at link time by scripts/release.sh (-ldflags "-X
// main.commit=..."); a plain `go build` in a git checkout falls back to the
// revision the Go toolchain stamps (see buildCommit).
var commit = ""

// versionInfo is what `dayi version` reports: enough for an operator to say
// exactly which build runs on a box and which kernels it computes with.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	SIMD    string `json:"simd"`
}

func currentVersion() versionInfo {
	return versionInfo{
		Version: version, Commit: buildCommit(), Go: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, SIMD: kernels.SIMD(),
	}
}

// buildCommit returns the stamped commit, else the toolchain's vcs.revision
// (with "+dirty" when the tree was modified), else "unknown" (a build with
// -buildvcs=false or outside a checkout).
func buildCommit() string {
	if commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}

func (v versionInfo) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "dayi %s\ncommit: %s\ngo:     %s %s/%s\nsimd:   %s\n", v.Version, v.Commit, v.Go, v.OS, v.Arch, v.SIMD)
	return err
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version, platform and SIMD kernel path",
		Long: `Print which build of dayi this is (version and commit, stamped by scripts/release.sh),
the Go toolchain and platform it was built for, and the kernel path the CPU dispatch chose
at start-up: AVX-512 VNNI, AVX2, NEON dotprod (arm64 with the dot-product extension), NEON (older
arm64) or pure Go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return v.writeText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
