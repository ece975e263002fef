package arch

import (
	"fmt"
	"math"

	"dayi/weights"
)

// Rope scaling as llama.cpp v0.5.0 reads it from GGUF metadata and as ggml
// applies it (src/llama-model.cpp load_hparams, src/llama-context.cpp's
// cparams set-up, ggml.c ggml_rope_yarn_corr_dims, ggml-cpu ops.cpp
// rope_yarn and rope_yarn_ramp). The YaRN method itself is Peng et al.,
// "YaRN: Efficient Context Window Extension of Large Language Models"
// (2023), whose reference implementation ggml cites.
//
//   - linear: every angle is multiplied by freq_scale = 1/factor.
//   - yarn: pairs whose wavelength is short next to the original context
//     (pair index below the low correction dim) keep their angle, pairs
//     past the high correction dim are interpolated by 1/factor, and a
//     linear ramp mixes the two in between; cos and sin are multiplied by
//     mscale = 0.1·ln(factor)+1, which scales q·k by mscale² (the
//     "attention temperature" of the paper).

// Defaults of llama.cpp's llama_hparams for YaRN: beta_fast 32, beta_slow 1.
// v0.5.0 reads <arch>.rope.scaling.yarn_beta_fast/slow (and yarn_ext_factor,
// yarn_attn_factor, yarn_log_multiplier) only for grok, mistral3 and the
// deepseek family, none of which dayi runs, so for llama, qwen2, qwen3 and
// gemma3 those keys are ignored here as they are there, even when
// convert_hf_to_gguf wrote them.
const (
	yarnBetaFast = 32
	yarnBetaSlow = 1
)

// maxRopeFactor bounds rope.scaling.factor: real models use 2 to 64; a
// hostile file's 1e30 or 1e-30 would only produce garbage angles.
const maxRopeFactor = 1 << 20

// readRope reads the rope of the full-attention layers: base, scaling type
// and factor, and the YaRN parameters. ctxTrain is <arch>.context_length,
// YaRN's original context when the file names none.
func readRope(f *weights.File, rd, ctxTrain int) (Rope, error) {
	rope := Rope{Base: float32(f.Float(f.ArchKey("rope.freq_base"), 10000)), Scale: 1, AttnFactor: 1}
	if !(rope.Base > 1) || math.IsInf(float64(rope.Base), 0) {
		return Rope{}, fmt.Errorf("metadata %s: rope base %g must be finite and above 1", f.ArchKey("rope.freq_base"), rope.Base)
	}
	// llama.cpp: the type defaults to "linear", and the factor to
	// rope.scale_linear (the old key) when rope.scaling.factor is absent.
	typeKey := f.ArchKey("rope.scaling.type")
	st := f.String(typeKey, "linear")
	facKey := f.ArchKey("rope.scaling.factor")
	if !f.Has(facKey) {
		facKey = f.ArchKey("rope.scale_linear")
	}
	fac := float32(f.Float(facKey, 0))
	if fac != 0 && !(fac >= 1.0/1024 && fac <= maxRopeFactor) {
		return Rope{}, fmt.Errorf("metadata %s: rope scaling factor %g outside [1/1024, %d]", facKey, fac, maxRopeFactor)
	}
	switch st {
	case "none", "", "llama3":
		// none: llama.cpp never scales then (cparams.rope_freq_scale = 1).
		// llama3 (and ""): Llama 3.1's scaling lives in rope_freqs.weight,
		// which the caller reads; llama.cpp itself would refuse the name.
		fac = 0
	case "linear":
	case "yarn":
		rope.ExtFactor = 1 // llama.cpp: yarn_ext_factor -1 ("not set") becomes 1 for yarn
	default:
		return Rope{}, fmt.Errorf("metadata %s: rope scaling %q is not supported (none, linear, yarn)", typeKey, st)
	}
	if fac != 0 {
		rope.Scale = 1 / fac
	}
	if rope.ExtFactor != 0 {
		// cparams.yarn_attn_factor: get_mscale(factor, 1), then divided by
		// the 1+0.1·ln(factor) that rope_yarn multiplies in again (llama.cpp
		// PR 17945), all in float32 as there.
		factor := 1 / rope.Scale
		m := float32(1)
		if factor > 1 {
			m = float32(0.1*logf(factor)) + 1
		}
		rope.AttnFactor = m * (1 / (float32(0.1*logf(factor)) + 1))
		rope.OrigCtx = ctxTrain
		origKey := f.ArchKey("rope.scaling.original_context_length")
		if o := f.Int(origKey, 0); o != 0 {
			if o < 0 || o > math.MaxInt32 {
				return Rope{}, fmt.Errorf("metadata %s: original context %d invalid", origKey, o)
			}
			rope.OrigCtx = int(o)
		}
		if rope.OrigCtx <= 0 {
			return Rope{}, fmt.Errorf("metadata %s: original context %d invalid", origKey, rope.OrigCtx)
		}
		rope.BetaFast, rope.BetaSlow = yarnBetaFast, yarnBetaSlow
	}
	// rope.scaling.attn_factor multiplies every rope's cos and sin, scaled
	// or not (cparams.yarn_attn_factor *= hparams.rope_attn_factor).
	afKey := f.ArchKey("rope.scaling.attn_factor")
	if f.Has(afKey) {
		af := float32(f.Float(afKey, 1))
		if !(af > 0 && af <= 1024) {
			return Rope{}, fmt.Errorf("metadata %s: attention factor %g outside (0, 1024]", afKey, af)
		}
		rope.AttnFactor *= af
	}
	return rope, nil
}

// MaxContextLength bounds <arch>.context_length: 2^24 tokens is past the
// longest context any released model states (10M) and keeps every
// footprint product in int64.
const MaxContextLength = 1 << 24

// MaxContext is the longest context the model is meant for:
// context_length, or YaRN's original context times its factor when that is
// longer (a Qwen2.5 GGUF converted with YaRN states context_length 32768,
// original 32768, factor 4: 131072 tokens). llama.cpp accepts any n_ctx and
// only warns past n_ctx_train; dayi refuses contexts past this.
func (h *Hyper) MaxContext() int {
	n := h.ContextLength
	for _, r := range h.Ropes {
		if r.ExtFactor != 0 && r.Scale > 0 && r.Scale < 1 {
			n = max(n, int(min(float64(r.OrigCtx)/float64(r.Scale), MaxContextLength)))
		}
	}
	return n
}

// Table fills cos and sin [T, rd/2] for positions pos0… as ggml-cpu's rope
// cache does (ops.cpp ggml_rope_cache_init and rope_yarn): theta starts at
// p and is multiplied by base^(-2/rd) in float32 for each pair, divided by
// the pair's Freqs, interpolated by Scale (mixed back towards the
// unscaled angle by YaRN's ramp), and cos and sin are multiplied by the
// magnitude (AttnFactor, times YaRN's 1+0.1·ln(1/Scale)).
func (r *Rope) Table(cos, sin []float32, T, rd, pos0 int) {
	r.fill(cos, sin, T, rd, pos0, true)
}

// Rotation fills cos and sin [rd/2] of the rotation by delta positions
// with unit magnitude: the same angles as Table, without its magnitude, so
// that a key cached at position p (already scaled once) re-rotated by delta
// is the key Table would give at p+delta. llama.cpp's K-shift calls
// ggml_rope_ext with the full attn_factor instead, which scales shifted
// keys by the magnitude a second time under YaRN; dayi does not copy that.
func (r *Rope) Rotation(cos, sin []float32, rd, delta int) {
	r.fill(cos, sin, 1, rd, delta, false)
}

func (r *Rope) fill(cos, sin []float32, T, rd, pos0 int, magnitude bool) {
	thetaScale := float32(math.Pow(float64(r.Base), -2.0/float64(rd)))
	mscale := float32(1)
	if magnitude {
		mscale = r.AttnFactor
	}
	var lo, hi float32
	yarn := r.ExtFactor != 0
	if yarn {
		lo, hi = yarnCorrDims(rd, r.OrigCtx, r.Base, r.BetaFast, r.BetaSlow)
		if magnitude {
			mscale *= float32(0.1*logf(1/r.Scale)) + 1
		}
	}
	n := rd / 2
	for t := range T {
		theta := float32(pos0 + t)
		row := t * n
		for i := range n {
			ext := theta
			if r.Freqs != nil {
				ext = theta / r.Freqs[i]
			}
			th := float32(r.Scale * ext)
			if yarn {
				mix := float32(yarnRamp(lo, hi, i) * r.ExtFactor)
				th = float32(th*(1-mix)) + float32(ext*mix)
			}
			c := float32(math.Cos(float64(th)))
			s := float32(math.Sin(float64(th)))
			if magnitude {
				c, s = c*mscale, s*mscale
			}
			cos[row+i], sin[row+i] = c, s
			theta *= thetaScale
		}
	}
}

// yarnCorrDims are the first and last pair indexes YaRN's ramp spans:
// where the pair's wavelength fits beta_fast and beta_slow rotations into
// the original context (ggml_rope_yarn_corr_dims, in float32).
func yarnCorrDims(rd, origCtx int, base, betaFast, betaSlow float32) (lo, hi float32) {
	dim := func(beta float32) float32 {
		den := float32(beta * 2 * math.Pi)
		return float32(float32(rd)*logf(float32(origCtx)/den)) / float32(2*logf(base))
	}
	lo = float32(math.Floor(float64(dim(betaFast))))
	hi = float32(math.Ceil(float64(dim(betaSlow))))
	return max(0, lo), min(float32(rd-1), hi)
}

// yarnRamp is 1 for pairs below lo, 0 past hi, linear between
// (rope_yarn_ramp; ggml passes the element index i0 and halves it).
func yarnRamp(lo, hi float32, pair int) float32 {
	y := (float32(pair) - lo) / max(0.001, hi-lo)
	return 1 - min(1, max(0, y))
}

// logf is C's logf: the natural logarithm rounded to float32.
func logf(x float32) float32 { return float32(math.Log(float64(x))) }
