package server

import "dayi/engine"

// shiftOptions says whether a generation may shift its context when it fills
// it, and how many leading tokens a shift keeps, as Ollama does: on unless
// the server runs with --no-ctx-shift, the request says options.shift=false,
// or num_predict is -2 ("fill the context", which by definition stops
// there); num_keep defaults to Ollama's 4, and -1 keeps the whole prompt.
// Ollama's runner shifts chat and completion requests alike, so dayi does
// too.
func (s *Server) shiftOptions(o *options, promptTokens int) (bool, int, error) {
	shift := !s.cfg.NoCtxShift && (o.Shift == nil || *o.Shift) && (o.NumPredict == nil || *o.NumPredict != -2)
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
