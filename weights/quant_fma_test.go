package weights

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoFusedMultiplyAdd compiles this package for arm64, whose Go backend
// fuses x*y+z into one FMA instruction unless an explicit float32()
// conversion forbids it, and fails if any fused instruction comes from a
// codec file. ggml's reference quantizers round every product; a single FMA
// changes low bits and, through nearest_int, whole codes, so bit-exactness on
// arm64 machines depends on this. (amd64 never fuses, so the reference tests
// alone cannot catch it.)
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package for arm64; skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not on PATH: %v", err)
	}
	env := append(os.Environ(), "GOARCH=arm64", "GOOS=linux", "CGO_ENABLED=0")
	run := func(args ...string) []byte {
		cmd := exec.Command(goBin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	cfg := run("list", "-export", "-deps", "-f", "{{if .Export}}packagefile {{.ImportPath}}={{.Export}}{{end}}", ".")
	files := strings.Fields(string(run("list", "-f", "{{join .GoFiles \" \"}}", ".")))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "importcfg")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"tool", "compile", "-S", "-p", "dayi/weights", "-importcfg", cfgPath, "-o", filepath.Join(dir, "w.o")}, files...)
	asm := run(args...)
	fused := regexp.MustCompile(`\bF(N)?M(ADD|SUB)[SD]\b`)
	where := regexp.MustCompile(`\((?:[^()]*/)?((?:quant(?:_[a-z]+)?|f16)\.go:\d+)\)`) // codec files only
	sawFloat := false
	sc := bufio.NewScanner(bytes.NewReader(asm))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := where.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.Contains(line, "FMULS") {
			sawFloat = true
		}
		if fused.MatchString(line) {
			t.Errorf("fused multiply-add at %s: %s", m[1], strings.TrimSpace(line))
		}
	}
	if !sawFloat {
		t.Fatal("no float32 multiplies found in the arm64 assembly; the check is not looking at the codecs")
	}
}
