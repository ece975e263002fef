package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testdata/go-version-m-linux-arm64.txt is `go version -m` of a dayi binary
// built with GOARCH=arm64 CGO_ENABLED=0 (the file name rewritten to dist/).
func readFixture(t *testing.T) []binaryInfo {
	t.Helper()
	f, err := os.Open("testdata/go-version-m-linux-arm64.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bins, err := parseVersionM(f)
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

func TestParseVersionM(t *testing.T) {
	bins := readFixture(t)
	if len(bins) != 1 {
		t.Fatalf("parsed %d binaries, want 1", len(bins))
	}
	b := bins[0]
	if b.File != "dist/dayi-arm64" || b.GoVersion != "go1.26.8" || b.MainPkg != "dayi/cmd/dayi" || b.Main.Path != "dayi" {
		t.Errorf("header = %q %q %q %q", b.File, b.GoVersion, b.MainPkg, b.Main.Path)
	}
	if b.Settings["GOARCH"] != "arm64" || b.Settings["GOOS"] != "linux" || b.Settings["CGO_ENABLED"] != "0" {
		t.Errorf("settings = %v", b.Settings)
	}
	if len(b.Deps) != 30 {
		t.Errorf("%d deps, want the 30 dep lines of the fixture", len(b.Deps))
	}
	var cobra *module
	for i := range b.Deps {
		if b.Deps[i].Path == "github.com/spf13/cobra" {
			cobra = &b.Deps[i]
		}
	}
	if cobra == nil || cobra.Version != "v1.10.2" || cobra.Sum != "h1:DMTTonx5m65Ic0GOoRY2c16WCbHxOOw6xxezuLaBpcU=" {
		t.Errorf("cobra = %+v", cobra)
	}
}

func TestParseVersionMReplace(t *testing.T) {
	in := "bin/x: go1.26.0\n\tpath\tx\n\tmod\tx\t(devel)\t\n" +
		"\tdep\tgithub.com/a/b\tv1.0.0\n\t=>\tgithub.com/fork/b\tv1.0.1\th1:abc=\n" +
		"\tdep\tgithub.com/c/d\tv0.1.0\th1:def=\n\t=>\t../d\t(devel)\t\n"
	bins, err := parseVersionM(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildBOM(bins, map[string]string{"bin/x": strings.Repeat("ab", 32)}, "1.0.0", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	comps := map[string]component{}
	for _, c := range b.Components {
		comps[c.BOMRef] = c
	}
	fork, ok := comps["pkg:golang/github.com/fork/b@v1.0.1"]
	if !ok {
		t.Fatalf("replacement module missing: %v", comps)
	}
	if !hasProp(fork, "go:module:replaces", "github.com/a/b@v1.0.0") || !hasProp(fork, "go:module:sum", "h1:abc=") {
		t.Errorf("replacement properties = %v", fork.Properties)
	}
	if _, ok := comps["pkg:golang/github.com/a/b@v1.0.0"]; ok {
		t.Error("the replaced module is listed as if it were linked")
	}
	if local, ok := comps["local:../d"]; !ok || local.PURL != "" {
		t.Errorf("local replacement = %+v (want no purl)", local)
	}
}

func TestParseVersionMRejects(t *testing.T) {
	for _, in := range []string{
		"",                                    // nothing
		"\tdep\tgithub.com/a/b\tv1.0.0\n",     // no header
		"x: go1.26\n\tdep\tgithub.com/a/b\n",  // dep without version
		"x: go1.26\n\t=>\tgithub.com/a\tv1\n", // replacement of nothing
		"not a header line\n",
	} {
		if _, err := parseVersionM(strings.NewReader(in)); err == nil {
			t.Errorf("parseVersionM(%q) accepted it", in)
		}
	}
}

func hasProp(c component, name, value string) bool {
	for _, p := range c.Properties {
		if p.Name == name && p.Value == value {
			return true
		}
	}
	return false
}

// TestBOMFromFixture: every module the binary links is a component with its
// purl and go.sum hash, and the binary depends on each of them.
func TestBOMFromFixture(t *testing.T) {
	bins := readFixture(t)
	sum := strings.Repeat("0f", 32)
	ts := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	b, err := buildBOM(bins, map[string]string{"dist/dayi-arm64": sum}, "1.2.3", ts)
	if err != nil {
		t.Fatal(err)
	}
	if b.BOMFormat != "CycloneDX" || b.SpecVersion != "1.5" || b.Metadata.Component.Name != "dayi" || b.Metadata.Component.Version != "1.2.3" || b.Metadata.Timestamp != "2026-12-06T04:00:00Z" {
		t.Errorf("header = %+v", b)
	}
	comps := map[string]component{}
	for _, c := range b.Components {
		comps[c.BOMRef] = c
	}
	bin, ok := comps["file:dayi-arm64"]
	if !ok || len(bin.Hashes) != 1 || bin.Hashes[0].Alg != "SHA-256" || bin.Hashes[0].Content != sum {
		t.Fatalf("binary component = %+v", bin)
	}
	if !hasProp(bin, "go:build:GOARCH", "arm64") || !hasProp(bin, "go:build:CGO_ENABLED", "0") {
		t.Errorf("binary properties = %v", bin.Properties)
	}
	var binDeps []string
	for _, d := range b.Dependencies {
		if d.Ref == "file:dayi-arm64" {
			binDeps = d.DependsOn
		}
	}
	for _, m := range append(bins[0].Deps, module{Path: "stdlib", Version: "go1.26.8"}) {
		ref := "pkg:golang/" + m.Path + "@" + m.Version
		c, ok := comps[ref]
		if !ok || c.PURL != ref || c.Name != m.Path || c.Version != m.Version {
			t.Errorf("module %s: component %+v", ref, c)
			continue
		}
		if m.Sum != "" && !hasProp(c, "go:module:sum", m.Sum) {
			t.Errorf("module %s lacks its go.sum hash", ref)
		}
		found := false
		for _, d := range binDeps {
			found = found || d == ref
		}
		if !found {
			t.Errorf("binary does not depend on %s", ref)
		}
	}
	again, _ := buildBOM(bins, map[string]string{"dist/dayi-arm64": sum}, "1.2.3", ts)
	if again.SerialNumber != b.SerialNumber || !strings.HasPrefix(b.SerialNumber, "urn:uuid:") || len(b.SerialNumber) != len("urn:uuid:")+36 {
		t.Errorf("serial %q then %q: want one stable urn:uuid", b.SerialNumber, again.SerialNumber)
	}
	other, _ := buildBOM(bins, map[string]string{"dist/dayi-arm64": strings.Repeat("1e", 32)}, "1.2.3", ts)
	if other.SerialNumber == b.SerialNumber {
		t.Error("different binaries got the same serial number")
	}
	if v, _ := buildBOM(bins, map[string]string{"dist/dayi-arm64": sum}, "1.2.4", ts); v.SerialNumber == b.SerialNumber {
		t.Error("another version got the same serial number")
	}
	// The serial is a hash, not the version's bytes (1.2.3 is 312e322e33).
	if strings.Contains(b.SerialNumber, "312e322e") {
		t.Errorf("serial %s embeds the version string", b.SerialNumber)
	}
	if _, err := buildBOM(bins, map[string]string{}, "1.2.3", ts); err == nil {
		t.Error("a binary without a hash was accepted")
	}
}

// TestGenerateRunsGoVersionM runs the real `go version -m` on this test
// binary: the SBOM names the toolchain that built it and the file's SHA-256.
func TestGenerateRunsGoVersionM(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := generate(goCmd, []string{exe}, "0.0.1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := sha256File(exe)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"content":"`+want+`"`) {
		t.Errorf("SBOM lacks the binary's SHA-256 %s", want)
	}
	if !strings.Contains(string(data), `"purl":"pkg:golang/stdlib@`+runtime.Version()+`"`) {
		t.Errorf("SBOM lacks stdlib@%s: %s", runtime.Version(), data)
	}
	if _, err := generate(goCmd, []string{"testdata/go-version-m-linux-arm64.txt"}, "0.0.1", time.Time{}); err == nil {
		t.Error("a file that is not a Go binary was accepted")
	}
}
