package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/engine"
	"dayi/engine/jsonschema"
)

// decode reads one JSON request body into v. Errors become 400 (malformed)
// or 413 (over the body limit), with messages that quote no request text.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &reqError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body exceeds the server's limit of %d bytes", mbe.Limit)}
		case errors.Is(err, io.EOF):
			return badRequest("empty request body: a JSON object is required")
		case errors.As(err, &se):
			return badRequest("invalid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return &reqError{status: http.StatusBadRequest, param: te.Field,
				msg: fmt.Sprintf("invalid JSON: field %q must be %s, not %s", te.Field, te.Type, te.Value)}
		}
		return badRequest("invalid JSON: %v", err)
	}
	return nil
}

// ollamaErr is Ollama's error body.
type ollamaErr struct {
	Error string `json:"error"`
}

// openaiErr is OpenAI's error body.
type openaiErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// writeErr answers with an error in the shape the endpoint's clients parse:
// OpenAI's object under /v1/, Ollama's {"error": …} elsewhere.
func writeErr(w http.ResponseWriter, r *http.Request, status int, err error) {
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		var e openaiErr
		e.Error.Message = err.Error()
		e.Error.Type = "invalid_request_error"
		if re := (*reqError)(nil); errors.As(err, &re) && re.param != "" {
			e.Error.Param = &re.param
		}
		switch {
		case status == http.StatusUnauthorized:
			e.Error.Type = "authentication_error"
		case status == http.StatusNotFound:
			code := "model_not_found"
			e.Error.Code = &code
		case status == http.StatusServiceUnavailable:
			e.Error.Type = "server_overloaded"
		case status >= 500:
			e.Error.Type = "server_error"
		}
		json.NewEncoder(w).Encode(e)
		return
	}
	json.NewEncoder(w).Encode(ollamaErr{Error: err.Error()})
}

// fail writes err with its status (nothing when the client went away).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := statusOf(err)
	if st == 499 {
		if sw, ok := w.(*statusWriter); ok {
			sw.status = 499
		}
		return
	}
	if st >= 500 {
		s.log.Error("request failed", "id", info(r).id, "status", st, "err", redact(err.Error(), info(r).patientID))
	}
	writeErr(w, r, st, clientError(r, err))
}

// streamer writes one chunk at a time, flushing each and giving each its own
// write deadline, so a client that stops reading is dropped instead of
// pinning a generation slot.
type streamer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
	aborted atomic.Bool // the scheduler gave up on this client: no write may block again
}

// watch returns ctx carrying st's interrupt (engine.WithInterrupt): when the
// scheduler cancels a request whose client stopped reading, the write that
// is blocked on that client fails at once instead of at its own deadline,
// so the request's slot is free again. A nil streamer (no streaming) has
// nothing to interrupt.
func (st *streamer) watch(ctx context.Context) context.Context {
	if st == nil {
		return ctx
	}
	return engine.WithInterrupt(ctx, func() {
		st.aborted.Store(true)
		st.rc.SetWriteDeadline(time.Now())
	})
}

func (s *Server) newStreamer(w http.ResponseWriter, contentType string) *streamer {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	return &streamer{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteChunkTimeout}
}

func (st *streamer) write(b []byte) error {
	st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if st.aborted.Load() { // after the deadline: an abort in between still wins
		return errStreamAborted
	}
	st.started = true
	if _, err := st.w.Write(b); err != nil {
		return err
	}
	return st.rc.Flush()
}

var errStreamAborted = errors.New("response stream aborted: the client was not reading")

func (st *streamer) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// checkFormat validates a format / response schema before any work, so a bad
// schema is a 400, not a failed generation.
func checkFormat(f json.RawMessage) (json.RawMessage, error) {
	s := strings.TrimSpace(string(f))
	if s == "" || s == "null" || s == `""` {
		return nil, nil
	}
	if _, err := jsonschema.Compile([]byte(s)); err != nil {
		return nil, badRequest("format: %v", err)
	}
	return json.RawMessage(s), nil
}

// keepAlive converts Ollama's keep_alive (api.Duration: negative is forever).
func keepAlive(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.Duration
	if v < 0 || v >= time.Duration(math.MaxInt64)/2 {
		v = -1
	}
	return &v
}

func ns(d time.Duration) int64 { return int64(d) }

// markGone records that the client left mid-stream (status 499 in metrics,
// logs and the audit log, though 200 was already sent).
func markGone(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok {
		sw.status = 499
	}
}
