package server

import "dayi/engine"

// shiftOptions says whether a generation may shift its context when it fills
// it, and how many leading tokens a shift keeps, as Ollama does: on unless
// the server runs with --no-ctx-shift, the request says "shift": false
// (Ollama's request field) or options.shift=false, or num_predict is -2
// ("fill the context", which by definition stops there); num_keep defaults
// to Ollama's 4, and -1 keeps the whole prompt. Ollama's runner shifts chat
// and completion requests alike, so dayi does too.
func (s *Server) shiftOptions(j *job, promptTokens int) (bool, int, error) {
	o := &j.opts
	// No shift with images: it drops the oldest tokens after num_keep,
	// which could keep half of an image's soft tokens, and a model reading
	// half a radiograph answers about something else. llama.cpp's server
	// disables the shift for multimodal models the same way (its
	// "ctx_shift is not supported by multimodal" warning); the generation
	// ends at the context's end ("length") instead.
	shift := !s.cfg.NoCtxShift && (j.shift == nil || *j.shift) && (o.Shift == nil || *o.Shift) &&
		(o.NumPredict == nil || *o.NumPredict != -2) && len(j.images) == 0
	keep := engine.DefaultNumKeep
	if o.NumKeep != nil {
		switch k := *o.NumKeep; {
		case k == -1:
			keep = promptTokens
		case k < 0:
			return false, 0, badRequest("num_keep %d: want -1 (the whole prompt) or a token count ≥ 0", k)
		default:
			keep = k // the engine keeps at most half of the context
		}
	}
	return shift, keep, nil
}

// truncatePrompt cuts a prompt longer than limit as Ollama's runner does
// when a request asks for "truncate": true: the first num_keep tokens (at
// most half the limit) and the most recent rest. Unlike Ollama, dayi does
// this only when asked: silently losing the start of a patient's history is
// worse than a 400 that says the prompt is too long.
func truncatePrompt(ids []int32, limit int, o *options) []int32 {
	keep := engine.DefaultNumKeep
	switch {
	case o.NumKeep == nil:
	case *o.NumKeep == -1: // the whole prompt: as much as may be kept
		keep = limit / 2
	case *o.NumKeep >= 0:
		keep = *o.NumKeep
	}
	keep = min(keep, limit/2)
	out := make([]int32, 0, limit)
	out = append(out, ids[:keep]...)
	return append(out, ids[len(ids)-(limit-keep):]...)
}
