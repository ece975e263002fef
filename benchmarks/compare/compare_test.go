package compare

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/engine"
	"dayi/internal/synthtest"
	"dayi/weights"
)

// TestRunRatios drives the harness with fixed engine speeds: the table's
// medians, ratios and the last line's geometric means must follow from them.
func TestRunRatios(t *testing.T) {
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := os.WriteFile(model, assets.DefaultModel, 0o644); err != nil {
		t.Fatal(err)
	}
	var order []string
	fixed := func(name string, pp, tg, first []float64) Runner {
		seen := map[Mode]int{}
		return func(_ context.Context, path string, threads int, mode Mode) (Sample, error) {
			if path != model {
				t.Errorf("%s ran %s, want %s", name, path, model)
			}
			order = append(order, name)
			i := seen[mode]
			seen[mode]++
			s := Sample{PrefillTPS: pp[i], DecodeTPS: tg[i], PeakRSS: 100 << 20}
			if first != nil {
				s.FirstPrefillTPS = first[i]
			}
			return s, nil
		}
	}
	// Per mode, llama.cpp's medians are pp 100 and tg 10 whatever the order;
	// dayi's are half and twice those, its first prompts a quarter.
	cfg := Config{
		Presets: []string{"p"}, Types: []string{"q8_0"}, Threads: []int{1}, Reps: 3, Prompt: 128, Gen: 64,
		Model:          func(context.Context, string, string) (string, error) { return model, nil },
		Llama:          fixed("llama.cpp", []float64{90, 110, 100}, []float64{10, 9, 11}, nil),
		Dayi:           fixed("dayi", []float64{60, 50, 40}, []float64{20, 22, 18}, []float64{30, 20, 25}),
		BandwidthBytes: 8 << 20,
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("llama.cpp,dayi,", 6); strings.Join(order, ",")+"," != want {
		t.Errorf("run order %v: engines must alternate", order)
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("%d rows, want 4 (2 engines × 2 modes)", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.Engine != "dayi" {
			continue
		}
		if math.Abs(r.PrefillRatio-0.5) > 1e-9 || math.Abs(r.DecodeRatio-2) > 1e-9 {
			t.Errorf("%s %s: ratios pp %v tg %v, want 0.5 and 2", r.Engine, r.Mode, r.PrefillRatio, r.DecodeRatio)
		}
		if math.Abs(r.FirstPrefillRatio-0.25) > 1e-9 {
			t.Errorf("%s %s: first-prompt ratio %v, want 0.25", r.Engine, r.Mode, r.FirstPrefillRatio)
		}
		if r.BytesPerToken <= 0 || r.DecodeBW <= 0 {
			t.Errorf("bytes per token %d, bandwidth share %v", r.BytesPerToken, r.DecodeBW)
		}
	}
	var buf bytes.Buffer
	if err := rep.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if last := lines[len(lines)-1]; last != "decode_ratio=2.00 prefill_ratio=0.50" {
		t.Errorf("last line %q", last)
	}
	if !regexp.MustCompile(`(?m)^\| dayi \| mmap \| p \| q8_0 \| 1 \| 50\.0 ±20 % \| 25\.0 \| 20\.00 ±10 % \| 100 MiB \| 0\.50 \| 0\.25 \| 2\.00 \| \d+ % \|$`).MatchString(buf.String()) {
		t.Errorf("table:\n%s", buf.String())
	}
	// llama-bench reports no first prompt: its cells stay empty
	if !regexp.MustCompile(`(?m)^\| llama\.cpp \| mmap \| p \| q8_0 \| 1 \| 100\.0 ±10 % \|  \| 10\.00 ±10 % \| 100 MiB \|  \|  \|  \| \d+ % \|$`).MatchString(buf.String()) {
		t.Errorf("llama.cpp row:\n%s", buf.String())
	}
}

// TestMeasureDayiTiny runs the real in-process measurement on the embedded
// model, the path the compare child process takes.
func TestMeasureDayiTiny(t *testing.T) {
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	res, err := MeasureDayi(context.Background(), f, DayiOptions{Threads: 1, Prompt: 16, Gen: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.PrefillTPS <= 0 || res.FirstPrefillTPS <= 0 || res.DecodeTPS <= 0 || math.IsInf(res.DecodeTPS, 0) {
		t.Errorf("speeds %+v", res)
	}
	if res.DecodeFrom != 0 {
		t.Errorf("decode timed from position %d, not 0 as llama-bench's tg", res.DecodeFrom)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && res.PeakRSS <= 0 {
		t.Errorf("no peak RSS on Linux: %+v", res)
	}
	if _, err := MeasureDayi(context.Background(), f, DayiOptions{Prompt: 0, Gen: 8}); err == nil {
		t.Error("empty prompt accepted")
	}
	// At depth: the context holds depth+prompt+gen tokens, so a depth the
	// model's context cannot hold fails, and a negative one is refused.
	if res, err := MeasureDayi(context.Background(), f, DayiOptions{Threads: 1, Prompt: 16, Gen: 8, Depth: 40}); err != nil || res.DecodeTPS <= 0 || res.DecodeFrom != 40 {
		t.Errorf("depth 40 (decode must start at position 40, as llama-bench -d 40's tg): %+v, %v", res, err)
	}
	if _, err := MeasureDayi(context.Background(), f, DayiOptions{Prompt: 16, Gen: 8, Depth: 1 << 24}); err == nil {
		t.Error("a depth beyond the longest context accepted")
	}
	// Past the context the model was trained for, as llama-bench -d 4096
	// runs on a model trained for 4096 tokens.
	m, err := engine.Load(f, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	trained := m.Hyper.ContextLength
	if _, err := engine.Load(f, engine.Options{Threads: 1, ContextLength: trained + 256}); err == nil {
		t.Errorf("a context of %d accepted for a model trained for %d without OverTrainedContext", trained+256, trained)
	}
	if res, err := MeasureDayi(context.Background(), f, DayiOptions{Threads: 1, Prompt: 16, Gen: 8, Depth: trained}); err != nil || res.DecodeFrom != trained {
		t.Errorf("depth %d, the trained context: %+v, %v", trained, res, err)
	}
	if _, err := MeasureDayi(context.Background(), f, DayiOptions{Prompt: 16, Gen: 8, Depth: -1}); err == nil {
		t.Error("negative depth accepted")
	}
	// A prompt longer than one step runs as several (llama-bench -ub).
	if res, err := MeasureDayi(context.Background(), f, DayiOptions{Threads: 1, Prompt: 40, Gen: 4, UBatch: 16}); err != nil || res.PrefillTPS <= 0 {
		t.Errorf("prompt 40 in steps of 16: %+v, %v", res, err)
	}
	if _, err := MeasureDayi(context.Background(), f, DayiOptions{Prompt: 16, Gen: 8, UBatch: -1}); err == nil {
		t.Error("negative ubatch accepted")
	}
}

// TestCPUSIMD reads the SIMD flags from a /proc/cpuinfo excerpt of the
// 2-core dev VM (Intel Xeon, family 6 model 207; trimmed flags line).
func TestCPUSIMD(t *testing.T) {
	const cpuinfo = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Processor
flags		: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c rdrand avx2 bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx_vnni avx512_bf16 avx512vbmi avx512_vbmi2 gfni avx512_vnni avx512_bitalg avx512_fp16
`
	want := "avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16"
	if got := simdOf(cpuinfo); got != want {
		t.Errorf("simdOf = %q, want %q", got, want)
	}
	if got := simdOf("model name : x\n"); got != "" {
		t.Errorf("no flags line: %q", got)
	}
}

func TestReadBandwidth(t *testing.T) {
	if bw := ReadBandwidth(2, 16<<20, 2); bw < 1e8 {
		t.Errorf("read bandwidth %.0f B/s: implausibly low", bw)
	}
}

// TestMeasureDayiDepthCompactSWA runs the measurement at depth on
// tiny-gemma3 (window 4), whose sliding-window layers get compact caches:
// the warm-up prompt and token move those rows past what a rewind to the
// depth needs (engine.ErrRewind), so the harness fills the depth again
// instead of failing, before the timed prompt and again before the timed
// decode.
func TestMeasureDayiDepthCompactSWA(t *testing.T) {
	f := synthtest.Preset(t, "tiny-gemma3", 7, nil)
	// Context 256 (tiny-gemma3's own); one 100-row step: compact caches
	// of 192 rows, each move keeping 92, so after the warm-up the rows
	// from position 97 on are gone.
	res, err := MeasureDayi(context.Background(), f, DayiOptions{Threads: 1, Prompt: 100, Gen: 4, Depth: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.PrefillTPS <= 0 || res.DecodeTPS <= 0 {
		t.Errorf("speeds %+v", res)
	}
	if res.DecodeFrom != 100 {
		t.Errorf("decode timed from position %d, not the depth 100", res.DecodeFrom)
	}
}
