package compare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NodeLlamaCppVersion is the npm package whose llama/gitRelease.bundle holds
// the llama.cpp source we compare against (llama.cpp tag v0.5.0 for 3.22.1,
// the same build that made the references in ../shared/reference).
const NodeLlamaCppVersion = "3.22.1"

// BuildLlamaBench builds llama.cpp's llama-bench once under dir (CPU only,
// Release, -march=native, OpenMP as llama.cpp's default build) and returns its
// path; an existing build is reused. Progress and tool output go to log.
func BuildLlamaBench(ctx context.Context, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "build", "bin", "llama-bench")
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("llama.cpp cache %s: %w", dir, err)
	}
	run := func(name string, args ...string) error {
		fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return nil
	}
	if _, err := exec.LookPath("cmake"); err != nil {
		// Debian's cmake; needs root, as the bench host's setup does.
		if err := run("apt-get", "install", "-y", "cmake"); err != nil {
			return "", fmt.Errorf("cmake is missing and could not be installed: %w", err)
		}
	}
	bundle := filepath.Join(dir, "npm", "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle")
	if _, err := os.Stat(bundle); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "npm"), 0o755); err != nil {
			return "", err
		}
		if err := run("npm", "install", "--prefix", "npm", "--ignore-scripts", "--no-audit", "--no-fund",
			"node-llama-cpp@"+NodeLlamaCppVersion); err != nil {
			return "", err
		}
	}
	src := filepath.Join(dir, "src")
	if _, err := os.Stat(filepath.Join(src, "CMakeLists.txt")); err != nil {
		if err := run("git", "clone", "--quiet", bundle, "src"); err != nil {
			return "", err
		}
	}
	if err := fixAMXTileConfig(src, log); err != nil {
		return "", err
	}
	if err := run("cmake", "-S", "src", "-B", "build", "-DCMAKE_BUILD_TYPE=Release",
		"-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DGGML_OPENMP=ON", "-DBUILD_SHARED_LIBS=OFF",
		"-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"); err != nil {
		return "", err
	}
	if err := run("cmake", "--build", "build", "--config", "Release", "--target", "llama-bench", "-j"); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("llama-bench not found after the build: %w", err)
	}
	return bin, nil
}

// amxTileConfigFile is ggml-cpu's AMX kernel file in the llama.cpp source.
const amxTileConfigFile = "ggml/src/ggml-cpu/amx/mmq.cpp"

// amxLoadConfig is the call in ggml_tile_config_init that fixAMXTileConfig
// guards, and amxBarrier the guard.
const (
	amxLoadConfig = "    _tile_loadconfig(&tc);\n"
	amxBarrier    = "    __asm__ volatile(\"\" :: \"r\"(&tc) : \"memory\"); // dayi bench: keep tc's stores (llama.cpp PR #26954)\n"
)

// fixAMXTileConfig puts a compiler barrier before the LDTILECFG of
// ggml_tile_config_init in the llama.cpp source under src. GCC 12 (Debian
// 12's) does not see _tile_loadconfig read the stack struct it fills and
// drops the stores, so on a CPU with AMX-INT8, where GGML_NATIVE compiles
// ggml-cpu's AMX path, every llama-bench prompt died with a general
// protection fault (seen with gdb on 2026-12-06: the 64-byte config held
// palette 1 and no rows; llama.cpp PR #26954 reports the same). With the
// barrier llama.cpp runs its AMX kernels as a compiler that keeps the
// stores builds them: the strongest llama.cpp such a CPU has. A source
// without that line (another llama.cpp version) is left as it is.
func fixAMXTileConfig(src string, log io.Writer) error {
	p := filepath.Join(src, amxTileConfigFile)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("llama.cpp source: %w", err)
	}
	out, changed := patchAMXTileConfig(b)
	if !changed {
		return nil
	}
	fmt.Fprintf(log, "patching %s: compiler barrier before _tile_loadconfig (GCC drops the tile config's stores; llama.cpp PR #26954)\n", amxTileConfigFile)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		return fmt.Errorf("llama.cpp source: %w", err)
	}
	return nil
}

// patchAMXTileConfig returns b with amxBarrier before its one
// amxLoadConfig line, and whether it changed anything: not when the line
// is missing, appears more than once, or already has the barrier.
func patchAMXTileConfig(b []byte) ([]byte, bool) {
	if bytes.Count(b, []byte(amxLoadConfig)) != 1 || bytes.Contains(b, []byte(amxBarrier)) {
		return b, false
	}
	return bytes.Replace(b, []byte(amxLoadConfig), []byte(amxBarrier+amxLoadConfig), 1), true
}

// LoadModeFlags returns llama-bench's arguments for loading without and with
// mmap. Recent builds have -lm/--load-mode (none|mmap|…); older ones -mmp 0|1.
func LoadModeFlags(help string) (noMmap, mmap []string) {
	if strings.Contains(help, "--load-mode") {
		return []string{"-lm", "none"}, []string{"-lm", "mmap"}
	}
	return []string{"-mmp", "0"}, []string{"-mmp", "1"}
}

// LlamaBenchHelp returns llama-bench --help's text.
func LlamaBenchHelp(ctx context.Context, bin string) string {
	out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	return string(out)
}

// BenchLine is one test of llama-bench's JSONL output (-o jsonl).
type BenchLine struct {
	ModelFilename string    `json:"model_filename"`
	ModelType     string    `json:"model_type"`
	ModelSize     int64     `json:"model_size"`
	Threads       int       `json:"n_threads"`
	LoadMode      string    `json:"load_mode"`
	TypeK         string    `json:"type_k"`
	Prompt        int       `json:"n_prompt"`
	Gen           int       `json:"n_gen"`
	AvgNs         int64     `json:"avg_ns"`
	AvgTs         float64   `json:"avg_ts"`
	SamplesTs     []float64 `json:"samples_ts"`
	CPUInfo       string    `json:"cpu_info"`
	BuildCommit   string    `json:"build_commit"`
}

// ParseBenchJSONL reads llama-bench -o jsonl output: one JSON object per test
// line; other lines (logs that leaked to stdout) are skipped.
func ParseBenchJSONL(r io.Reader) ([]BenchLine, error) {
	var out []BenchLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var b BenchLine
		if err := json.Unmarshal(line, &b); err != nil {
			return nil, fmt.Errorf("llama-bench output line %d: %w", n, err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("llama-bench output: %w", err)
	}
	return out, nil
}

// LlamaResult is one llama-bench run: pp and tg speed and the process's peak RSS.
type LlamaResult struct {
	PrefillTPS, DecodeTPS float64
	PeakRSS               int64 // bytes
	Wall                  time.Duration
}

// RunLlamaBench runs llama-bench once (-r 1, its own warm-up kept) on model
// with nPrompt/nGen tokens and threads, plus the load-mode arguments.
func RunLlamaBench(ctx context.Context, bin, model string, threads, nPrompt, nGen int, mode []string) (LlamaResult, error) {
	args := []string{"-m", model, "-p", strconv.Itoa(nPrompt), "-n", strconv.Itoa(nGen),
		"-t", strconv.Itoa(threads), "-r", "1", "-o", "jsonl"}
	args = append(args, mode...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	var peak int64 // its own VmHWM, polled: see maxRSS for why not rusage
	err := cmd.Start()
	if err == nil {
		stop := watchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		peak = stop()
	}
	res := LlamaResult{Wall: time.Since(start), PeakRSS: peak}
	if peak == 0 {
		res.PeakRSS = maxRSS(cmd.ProcessState)
	}
	if err != nil {
		return res, fmt.Errorf("llama-bench %s: %w: %s", strings.Join(args, " "), err, tail(stderr.String(), 400))
	}
	lines, err := ParseBenchJSONL(&stdout)
	if err != nil {
		return res, err
	}
	for _, l := range lines {
		switch {
		case l.Prompt > 0 && l.Gen == 0:
			res.PrefillTPS = l.AvgTs
		case l.Gen > 0 && l.Prompt == 0:
			res.DecodeTPS = l.AvgTs
		}
	}
	if res.PrefillTPS == 0 || res.DecodeTPS == 0 {
		return res, fmt.Errorf("llama-bench %s: missing pp or tg result in %q", model, tail(stdout.String(), 400))
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
