package engine

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/x448/float16"

	"dayi/engine/sample"
)

// kvRows returns a copy of rows [0, n) of cache buffer i as float32.
func kvRows(t *testing.T, s *Session, i, n int) []float32 {
	t.Helper()
	flat, err := s.m.backend.BufferData(s.kv[i])
	if err != nil {
		t.Fatal(err)
	}
	l := i % s.m.Hyper.Layers
	w := s.m.Hyper.KVHeads[l] * s.m.Hyper.HeadDim
	out := make([]float32, n*w)
	switch x := flat.(type) {
	case []float32:
		copy(out, x[:n*w])
	case []float16.Float16:
		for j := range out {
			out[j] = x[j].Float32()
		}
	}
	return out
}

// storyTokens is a deterministic sequence of n ordinary tokens after BOS.
func storyTokens(lm *LM, n int) []int32 {
	toks := lm.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her dog Max. One day, they went to the park and saw a big red ball.", true, false)
	for len(toks) < n {
		toks = append(toks, toks[1+len(toks)%40])
	}
	return toks[:n]
}

// The shift op itself: after dropping positions [keep, keep+d), the first
// layer's kept keys equal those a cold run computes at the new positions
// (they depend only on the token and the position) up to float rounding of
// the extra rotation, and its values are moved unchanged. f32 cache: within
// 1e-5 of the keys' scale; f16: one more f16 rounding, within 2^-10
// relative plus 1e-3 absolute. Llama's adjacent pairs, qwen2's NeoX halves
// and gemma3's two ropes (local and global layers: layer 0 is local).
// Scaled ropes too (YaRN past its original context of 64, linear with an
// attention factor): the re-rotation must turn by the scaled angles without
// applying the rope's magnitude a second time.
func TestContextShiftRotatesKeys(t *testing.T) {
	for _, c := range []struct{ model, kv string }{{"stories260K", "f32"}, {"stories260K", "f16"}, {"tiny-qwen2", "f32"}, {"tiny-gemma3", "f16"},
		{"tiny-qwen2-yarn", "f32"}, {"tiny-llama-linear", "f32"}, {"tiny-gemma3-yarn", "f16"}} {
		t.Run(c.model+"/"+c.kv, func(t *testing.T) {
			kv := c.kv
			opt := Options{Backend: "dayi", KVType: kv, ContextLength: 96, Buckets: []int{8, 32}, PrefixCacheBytes: -1}
			var lm *LM
			if c.model == "stories260K" { // llama: adjacent rotary pairs
				lm = tinyLM(t, opt)
			} else { // NeoX halves; gemma3 has two ropes (local and global layers)
				m, err := Load(synthModel(t, c.model), opt)
				if err != nil {
					t.Fatal(err)
				}
				if lm, err = NewLM(m); err != nil {
					t.Fatal(err)
				}
			}
			toks := storyTokens(lm, 90)
			keep, discard := 4, 43
			s, err := lm.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Eval(context.Background(), toks); err != nil {
				t.Fatal(err)
			}
			v0 := kvRows(t, s, lm.Hyper.Layers, len(toks))
			if err := s.Shift(keep, discard); err != nil {
				t.Fatal(err)
			}
			shifted := append(slices.Clone(toks[:keep]), toks[keep+discard:]...)
			if s.Pos() != len(shifted) {
				t.Fatalf("pos %d after the shift, want %d", s.Pos(), len(shifted))
			}
			cold, err := lm.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer cold.Close()
			if _, err := cold.Eval(context.Background(), shifted); err != nil {
				t.Fatal(err)
			}
			n := len(shifted)
			got, want := kvRows(t, s, 0, n), kvRows(t, cold, 0, n)
			var worst float64
			for j := range got {
				tol := 1e-5 * (1 + math.Abs(float64(want[j])))
				if kv == "f16" {
					tol = 1e-3 + math.Abs(float64(want[j]))/1024
				}
				d := math.Abs(float64(got[j] - want[j]))
				worst = max(worst, d)
				if d > tol {
					t.Fatalf("layer 0 key %d (position %d): %g after the shift, %g cold", j, j/(len(got)/n), got[j], want[j])
				}
			}
			t.Logf("layer 0 keys: worst difference %g", worst)
			if worst == 0 && keep < n {
				t.Fatalf("keys identical to the cold run: the shift test cannot tell a rotation from none")
			}
			// Unrotated keys would be far off: the test can fail.
			w := lm.Hyper.KVHeads[0] * lm.Hyper.HeadDim
			v1 := kvRows(t, s, lm.Hyper.Layers, n)
			if !slices.Equal(v1[:keep*w], v0[:keep*w]) || !slices.Equal(v1[keep*w:], v0[(keep+discard)*w:len(toks)*w]) {
				t.Fatalf("layer 0 values were not moved unchanged")
			}
			if err := s.Shift(n-1, 2); err == nil {
				t.Fatalf("a shift past the end was accepted")
			}
		})
	}
}

// End to end: after a shift the next-token logits approximate a cold run on
// the shortened sequence. They cannot equal it: layers past the first
// computed the kept tokens with the dropped ones in view, which is the
// approximation llama.cpp's and Ollama's context shift make too. Measured on
// stories260K with 43 of 90 tokens dropped: the same greedy token, logits
// within 0.44 (of magnitude ~10); the test allows 1.5.
func TestContextShiftMatchesColdRun(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", KVType: "f32", ContextLength: 96, Buckets: []int{8, 32}, PrefixCacheBytes: -1})
	toks := storyTokens(lm, 90)
	keep, discard := 4, 43
	s, _ := lm.NewSession()
	defer s.Close()
	if _, err := s.Eval(context.Background(), toks[:len(toks)-1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Shift(keep, discard); err != nil {
		t.Fatal(err)
	}
	got, err := s.Eval(context.Background(), toks[len(toks)-1:])
	if err != nil {
		t.Fatal(err)
	}
	got = slices.Clone(got)
	shifted := append(slices.Clone(toks[:keep]), toks[keep+discard:]...)
	cold, _ := lm.NewSession()
	defer cold.Close()
	want, err := cold.Eval(context.Background(), shifted)
	if err != nil {
		t.Fatal(err)
	}
	d, at := maxDiff(got, want)
	t.Logf("logits after the shift vs cold: max difference %g at %d; argmax %d vs %d", d, at, argmax(got), argmax(want))
	if d > 1.5 || argmax(got) != argmax(want) {
		t.Fatalf("shifted logits differ from the cold run by %g at %d (argmax %d vs %d)", d, at, argmax(got), argmax(want))
	}
}

// With Shift a generation asked for more tokens than the context holds goes
// on to MaxTokens; without it, it stops where the context is full
// (DoneLength), as before. The scheduler shifts the same way.
func TestContextShiftContinues(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", ContextLength: 64, Buckets: []int{8, 32}})
	noEOS := sample.Options{LogitBias: map[int32]float32{lm.Tok.EOS(): float32(math.Inf(-1))}}
	prompt := storyTokens(lm, 20)
	res := generate(t, lm, &Request{Tokens: prompt, MaxTokens: 150, Sampling: noEOS})
	if res.DoneReason != DoneLength || len(res.Tokens) != 64-20+1 || res.Shifts != 0 {
		t.Fatalf("without shift: %d tokens, %q, %d shifts", len(res.Tokens), res.DoneReason, res.Shifts)
	}
	req := &Request{Tokens: prompt, MaxTokens: 150, Sampling: noEOS, Shift: true, NumKeep: 4}
	res = generate(t, lm, req)
	if res.DoneReason != DoneLength || len(res.Tokens) != 150 || res.Shifts < 2 {
		t.Fatalf("with shift: %d tokens, %q, %d shifts", len(res.Tokens), res.DoneReason, res.Shifts)
	}
	s := lm.NewScheduler(2, 2)
	defer s.Close()
	sres, err := s.Generate(context.Background(), req, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sres.Text != res.Text || sres.Shifts != res.Shifts {
		t.Fatalf("scheduler: %d shifts %q, alone: %d shifts %q", sres.Shifts, sres.Text, res.Shifts, res.Text)
	}
	// MaxShiftedTokens bounds what shifting may generate (running it to the
	// bound, 16,384 tokens, would take the test too long on a shared host).
	if MaxShiftedTokens(64) != 16384 || MaxShiftedTokens(8192) != 32768 {
		t.Fatalf("MaxShiftedTokens: %d, %d", MaxShiftedTokens(64), MaxShiftedTokens(8192))
	}
	// A num_keep past half the context keeps half, so a shift still frees
	// a quarter of it instead of one token per step.
	res = generate(t, lm, &Request{Tokens: prompt, MaxTokens: 120, Sampling: noEOS, Shift: true, NumKeep: 1 << 30})
	if len(res.Tokens) != 120 || res.Shifts > 6 {
		t.Fatalf("huge num_keep: %d tokens, %d shifts", len(res.Tokens), res.Shifts)
	}
	// A shifted sequence is not stored in the prefix cache (a cold run
	// would not reproduce its re-rotated keys).
	before := lm.PrefixCacheStats()
	generate(t, lm, &Request{Tokens: storyTokens(lm, 30), MaxTokens: 100, Sampling: noEOS, Shift: true})
	if after := lm.PrefixCacheStats(); after.Entries != before.Entries+1 { // only its prompt
		t.Fatalf("entries %d → %d", before.Entries, after.Entries)
	}
}
