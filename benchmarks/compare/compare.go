package compare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"dayi/kernels"
	"dayi/weights"
)

// Mode is how an engine brings the weights into memory.
type Mode string

// The memory modes both engines are run in.
const (
	NoMmap Mode = "no-mmap"
	Mmap   Mode = "mmap"
)

// Sample is one timed run of one engine.
type Sample struct {
	PrefillTPS, DecodeTPS float64
	// FirstPrefillTPS is the first prompt after loading (dayi only; 0
	// where the engine does not report it: llama-bench warms up untimed).
	FirstPrefillTPS float64
	PeakRSS         int64 // bytes
}

// Runner runs one engine once on model with threads in mode.
type Runner func(ctx context.Context, model string, threads int, mode Mode) (Sample, error)

// Config is one comparison.
type Config struct {
	Presets []string
	Types   []string
	Threads []int
	Modes   []Mode
	Reps    int
	Prompt  int // prompt tokens (llama-bench -p)
	Gen     int // generated tokens (llama-bench -n)
	Depth   int // tokens already in the context when both are timed (llama-bench -d)
	// UBatch is the most prompt tokens per step in both engines
	// (llama-bench -ub; 0: DefaultUBatch, llama-bench's own default).
	UBatch int
	// Model returns the GGUF path for a preset and type (EnsureModel).
	Model func(ctx context.Context, preset, typ string) (string, error)
	Llama Runner
	Dayi  Runner
	// BandwidthBytes is the buffer scanned by ReadBandwidth (0: 512 MiB).
	BandwidthBytes int
	Log            io.Writer
}

// Row is the median of one engine's repetitions on one configuration.
type Row struct {
	Engine        string    `json:"engine"`
	Mode          Mode      `json:"mode"`
	Preset        string    `json:"preset"`
	Type          string    `json:"type"`
	Threads       int       `json:"threads"`
	PrefillTPS    float64   `json:"prefill_tps"`
	DecodeTPS     float64   `json:"decode_tps"`
	DecodeSamples []float64 `json:"decode_samples"`
	// PrefillSamples and FirstPrefillTPS (the median first prompt after
	// loading, dayi only) sit beside the warm medians: the issue asks for
	// cold and warm separately, and for spreads.
	PrefillSamples  []float64 `json:"prefill_samples"`
	FirstPrefillTPS float64   `json:"first_prefill_tps,omitempty"`
	PeakRSS         int64     `json:"peak_rss"`
	BytesPerToken   int64     `json:"weight_bytes_per_token"`
	// DecodeBW is the weight bytes read per second while decoding as a
	// fraction of the host's read bandwidth at the same thread count.
	DecodeBW float64 `json:"decode_bw_fraction"`
	// Ratios of dayi to llama.cpp in the same mode (dayi rows only).
	PrefillRatio float64 `json:"prefill_ratio,omitempty"`
	DecodeRatio  float64 `json:"decode_ratio,omitempty"`
	// FirstPrefillRatio is dayi's first prompt against llama-bench's warm
	// prefill (the bar for `dayi run`).
	FirstPrefillRatio float64 `json:"first_prefill_ratio,omitempty"`
}

// Report is a finished comparison.
type Report struct {
	Date      time.Time       `json:"date"`
	CPU       string          `json:"cpu"`
	Bandwidth map[int]float64 `json:"read_bandwidth"` // threads → bytes/s
	Prompt    int             `json:"prompt"`
	Gen       int             `json:"gen"`
	Depth     int             `json:"depth,omitempty"`
	UBatch    int             `json:"ubatch"`
	Reps      int             `json:"reps"`
	Rows      []Row           `json:"rows"`
	// Geometric means of dayi/llama.cpp over all dayi rows.
	DecodeRatio  float64 `json:"decode_ratio"`
	PrefillRatio float64 `json:"prefill_ratio"`
}

// Run measures every preset × type × threads configuration, alternating the
// engines within each repetition (llama.cpp then dayi, per mode) so that
// drifting host load hits both alike, and reports medians.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Reps < 1 {
		cfg.Reps = 1
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if len(cfg.Modes) == 0 {
		cfg.Modes = []Mode{NoMmap, Mmap}
	}
	cpu := CPUModel()
	if f := CPUSIMD(); f != "" {
		cpu += " (" + f + ")"
	}
	// The flags are the CPU's; the kernels dayi takes can be fewer when
	// GODEBUG masks features (cpu.avx512f=off…: an AVX2-only host on an
	// AVX-512 machine), which the dayi-run children inherit. llama.cpp's
	// are whatever its build was compiled for.
	cpu += "; dayi kernels: " + kernels.SIMD() + ", " + kernels.StreamPrefetch() + " prefetch"
	if g := os.Getenv("GODEBUG"); strings.Contains(g, "cpu.") {
		cpu += " (GODEBUG=" + g + ")"
	}
	rep := &Report{Date: time.Now(), CPU: cpu, Bandwidth: map[int]float64{},
		Prompt: cfg.Prompt, Gen: cfg.Gen, Depth: cfg.Depth, UBatch: cfg.UBatch, Reps: cfg.Reps}
	if rep.UBatch == 0 {
		rep.UBatch = DefaultUBatch
	}
	bwSize := cfg.BandwidthBytes
	if bwSize == 0 {
		bwSize = 512 << 20
	}
	for _, t := range cfg.Threads {
		rep.Bandwidth[t] = ReadBandwidth(t, bwSize, 5)
		fmt.Fprintf(cfg.Log, "read bandwidth, %d thread(s): %.1f GB/s\n", t, rep.Bandwidth[t]/1e9)
	}
	for _, preset := range cfg.Presets {
		for _, typ := range cfg.Types {
			path, err := cfg.Model(ctx, preset, typ)
			if err != nil {
				return nil, err
			}
			f, err := weights.Open(path)
			if err != nil {
				return nil, err
			}
			bpt := WeightBytesPerToken(f)
			f.Close()
			for _, threads := range cfg.Threads {
				type key struct {
					engine string
					mode   Mode
				}
				samples := map[key][]Sample{}
				for r := 0; r < cfg.Reps; r++ {
					for _, mode := range cfg.Modes {
						for _, e := range []struct {
							name string
							run  Runner
						}{{"llama.cpp", cfg.Llama}, {"dayi", cfg.Dayi}} {
							if err := ctx.Err(); err != nil {
								return nil, err
							}
							s, err := e.run(ctx, path, threads, mode)
							if err != nil {
								return nil, fmt.Errorf("%s %s-%s t=%d %s: %w", e.name, preset, typ, threads, mode, err)
							}
							fmt.Fprintf(cfg.Log, "%s-%s t=%d rep %d %-9s %-7s pp %7.2f tg %6.2f tok/s rss %s\n",
								preset, typ, threads, r+1, e.name, mode, s.PrefillTPS, s.DecodeTPS, fmtBytes(s.PeakRSS))
							k := key{e.name, mode}
							samples[k] = append(samples[k], s)
						}
					}
				}
				for _, mode := range cfg.Modes {
					var llama Row
					for _, engine := range []string{"llama.cpp", "dayi"} {
						ss := samples[key{engine, mode}]
						row := Row{Engine: engine, Mode: mode, Preset: preset, Type: typ, Threads: threads, BytesPerToken: bpt}
						var pp, tg, first []float64
						for _, s := range ss {
							pp, tg = append(pp, s.PrefillTPS), append(tg, s.DecodeTPS)
							if s.FirstPrefillTPS > 0 {
								first = append(first, s.FirstPrefillTPS)
							}
							row.PeakRSS = max(row.PeakRSS, s.PeakRSS)
						}
						row.PrefillTPS, row.DecodeTPS, row.DecodeSamples = median(pp), median(tg), tg
						row.PrefillSamples, row.FirstPrefillTPS = pp, median(first)
						if bw := rep.Bandwidth[threads]; bw > 0 {
							row.DecodeBW = float64(bpt) * row.DecodeTPS / bw
						}
						if engine == "llama.cpp" {
							llama = row
						} else if llama.DecodeTPS > 0 && llama.PrefillTPS > 0 {
							row.DecodeRatio = row.DecodeTPS / llama.DecodeTPS
							row.PrefillRatio = row.PrefillTPS / llama.PrefillTPS
							row.FirstPrefillRatio = row.FirstPrefillTPS / llama.PrefillTPS
						}
						rep.Rows = append(rep.Rows, row)
					}
				}
			}
		}
	}
	var ld, lp float64
	var n int
	for _, r := range rep.Rows {
		if r.DecodeRatio > 0 && r.PrefillRatio > 0 {
			ld += math.Log(r.DecodeRatio)
			lp += math.Log(r.PrefillRatio)
			n++
		}
	}
	if n > 0 {
		rep.DecodeRatio, rep.PrefillRatio = math.Exp(ld/float64(n)), math.Exp(lp/float64(n))
	}
	return rep, nil
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Markdown writes the report as a markdown table; its last line is exactly
// "decode_ratio=X.XX prefill_ratio=Y.YY".
func (r *Report) Markdown(w io.Writer) error {
	bw := &strings.Builder{}
	var ts []int
	for t := range r.Bandwidth {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	for i, t := range ts {
		if i > 0 {
			bw.WriteString(", ")
		}
		fmt.Fprintf(bw, "%d thread(s) %.1f GB/s", t, r.Bandwidth[t]/1e9)
	}
	depth := ""
	if r.Depth > 0 {
		depth = fmt.Sprintf(" at depth %d", r.Depth)
	}
	steps := ""
	if r.UBatch > 0 && r.Prompt > r.UBatch {
		steps = fmt.Sprintf(" in steps of %d", r.UBatch)
	}
	fmt.Fprintf(w, "%s, %s; read bandwidth %s; prompt %d%s, generate %d tokens%s, median of %d\n\n",
		r.Date.Format("2006-01-02 15:04 MST"), r.CPU, bw, r.Prompt, steps, r.Gen, depth, r.Reps)
	fmt.Fprintln(w, "Prefill and decode are medians ± half the spread (max − min) of the repetitions, in % of the median;")
	fmt.Fprintln(w, "first prompt is dayi's first prompt after loading, its ratio against llama-bench's warm prefill.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| engine | load | model | type | threads | prefill tok/s | first prompt tok/s | decode tok/s | peak RSS | prefill ratio | first-prompt ratio | decode ratio | decode % of bandwidth |")
	fmt.Fprintln(w, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range r.Rows {
		pr, fr, dr, first := "", "", "", ""
		if row.DecodeRatio > 0 {
			pr, dr = fmt.Sprintf("%.2f", row.PrefillRatio), fmt.Sprintf("%.2f", row.DecodeRatio)
		}
		if row.FirstPrefillRatio > 0 {
			fr = fmt.Sprintf("%.2f", row.FirstPrefillRatio)
		}
		if row.FirstPrefillTPS > 0 {
			first = fmt.Sprintf("%.1f", row.FirstPrefillTPS)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %.1f%s | %s | %.2f%s | %s | %s | %s | %s | %.0f %% |\n",
			row.Engine, row.Mode, row.Preset, row.Type, row.Threads, row.PrefillTPS, spread(row.PrefillSamples),
			first, row.DecodeTPS, spread(row.DecodeSamples), fmtBytes(row.PeakRSS), pr, fr, dr, 100*row.DecodeBW)
	}
	_, err := fmt.Fprintf(w, "\ndecode_ratio=%.2f prefill_ratio=%.2f\n", r.DecodeRatio, r.PrefillRatio)
	return err
}

// spread formats half the range of x in % of its median (" ±3 %"), or
// nothing for fewer than two samples.
func spread(x []float64) string {
	m := median(x)
	if len(x) < 2 || m <= 0 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f %%", 50*(slices.Max(x)-slices.Min(x))/m)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n > 0:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return "-"
}

// CPUModel is the host's CPU model name (lscpu's "Model name").
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// simdFlags are the /proc/cpuinfo flags that decide dayi's and llama.cpp's
// kernels, in the order CPUSIMD lists them.
var simdFlags = []string{"avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
	"avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"}

// CPUSIMD lists the host's SIMD flags that matter to the kernels (issue 16:
// every table names its CPU and flags), space-separated.
func CPUSIMD() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return simdOf(string(b))
}

// simdOf is CPUSIMD for the text of /proc/cpuinfo.
func simdOf(cpuinfo string) string {
	have := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				have[f] = true
			}
			break
		}
	}
	var out []string
	for _, f := range simdFlags {
		if have[f] {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// LlamaRunner runs llama-bench at bin; depth > 0 adds -d depth, ubatch > 0
// -ub ubatch (with -b raised to it where it exceeds llama-bench's 2048).
func LlamaRunner(bin string, prompt, gen, depth, ubatch int, help string) Runner {
	noMmap, mmap := LoadModeFlags(help)
	return func(ctx context.Context, model string, threads int, mode Mode) (Sample, error) {
		flags := mmap
		if mode == NoMmap {
			flags = noMmap
		}
		if depth > 0 {
			flags = append(slices.Clone(flags), "-d", strconv.Itoa(depth))
		}
		if ubatch > 0 {
			flags = append(slices.Clone(flags), "-ub", strconv.Itoa(ubatch), "-b", strconv.Itoa(max(ubatch, 2048)))
		}
		r, err := RunLlamaBench(ctx, bin, model, threads, prompt, gen, flags)
		return Sample{PrefillTPS: r.PrefillTPS, DecodeTPS: r.DecodeTPS, PeakRSS: r.PeakRSS}, err
	}
}

// DayiRunner runs dayi in a fresh process (exe bench dayi-run …), so that its
// peak RSS is its own and every run starts cold like llama-bench's.
func DayiRunner(exe string, prompt, gen, depth, ubatch int) Runner {
	return func(ctx context.Context, model string, threads int, mode Mode) (Sample, error) {
		args := []string{"bench", "dayi-run", "--model", model, "--threads", strconv.Itoa(threads),
			"--prompt", strconv.Itoa(prompt), "--gen", strconv.Itoa(gen), "--depth", strconv.Itoa(depth),
			"--ubatch", strconv.Itoa(ubatch)}
		if mode == NoMmap {
			args = append(args, "--no-mmap")
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return Sample{}, fmt.Errorf("%s %s: %w: %s", exe, strings.Join(args, " "), err, tail(stderr.String(), 400))
		}
		var r DayiResult
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return Sample{}, fmt.Errorf("dayi bench dayi-run output %q: %w", tail(stdout.String(), 200), err)
		}
		if r.PeakRSS == 0 {
			r.PeakRSS = maxRSS(cmd.ProcessState)
		}
		return Sample{PrefillTPS: r.PrefillTPS, DecodeTPS: r.DecodeTPS, FirstPrefillTPS: r.FirstPrefillTPS,
			PeakRSS: r.PeakRSS}, nil
	}
}
