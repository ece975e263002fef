package clinic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"dayi/engine"
	"dayi/engine/sample"
)

// maxBody bounds a request body: a consultation transcript is long, but not megabytes.
const maxBody = 1 << 20

type handler struct {
	deps Deps
	err  error // set when the shipped tables do not compile
}

// NewHandler serves the clinical workflows over HTTP (JSON in, JSON out, POST only):
//
//	/api/clinic/triage    {"complaint", "lang"?, "no_model"?, "seed"?}            → TriageResult
//	/api/clinic/intake    {"lang"?, "answers": {step: text}}                       → IntakeStep
//	/api/clinic/emr       {"transcript", "lang"?, "seed"?, "temperature"?, "max_tokens"?} → EMRResult
//	/api/clinic/followup  FollowUpRequest                                          → Plan
//
// It matches on the path's last element, so it works mounted at "/api/clinic/" or behind http.StripPrefix.
// The server mounts it behind its own authentication, audit and limits; this handler never logs request text.
func NewHandler(deps Deps) http.Handler {
	d, err := deps.withDefaults()
	return &handler{deps: d, err: err}
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{h.err.Error()})
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	op := path[strings.LastIndexByte(path, '/')+1:]
	switch op {
	case "triage", "intake", "emr", "followup":
	default:
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("unknown clinic endpoint %q (triage, intake, emr, followup)", r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"use POST with a JSON body"})
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var (
		out     any
		err     error
		patient string // for redaction from the log
	)
	ctx := r.Context()
	switch op {
	case "triage":
		var req struct {
			Complaint string   `json:"complaint"`
			Lang      string   `json:"lang"`
			NoModel   bool     `json:"no_model"`
			Seed      *int64   `json:"seed"`
			Temp      *float32 `json:"temperature"`
		}
		if err = dec.Decode(&req); err == nil {
			if strings.TrimSpace(req.Complaint) == "" {
				err = errBadRequest("complaint is empty")
				break
			}
			if err = checkTemperature(req.Temp); err != nil {
				break
			}
			out, err = Triage(ctx, h.deps, req.Complaint, TriageOptions{Lang: req.Lang, NoModel: req.NoModel, Sampling: h.sampling(req.Seed, req.Temp)})
		}
	case "intake":
		var req IntakeRequest
		if err = dec.Decode(&req); err == nil {
			out, err = Intake(h.deps, req)
		}
	case "emr":
		var req struct {
			Transcript string   `json:"transcript"`
			Lang       string   `json:"lang"`
			Seed       *int64   `json:"seed"`
			Temp       *float32 `json:"temperature"`
			MaxTokens  int      `json:"max_tokens"`
		}
		if err = dec.Decode(&req); err == nil {
			if strings.TrimSpace(req.Transcript) == "" {
				err = errBadRequest("transcript is empty")
				break
			}
			if err = checkTemperature(req.Temp); err != nil {
				break
			}
			if req.MaxTokens < 0 || req.MaxTokens > maxTokens {
				err = errBadRequest(fmt.Sprintf("max_tokens: %d is out of range (allowed: 0 to %d)", req.MaxTokens, maxTokens))
				break
			}
			out, err = EMR(ctx, h.deps, req.Transcript, EMROptions{Lang: req.Lang, Sampling: h.sampling(req.Seed, req.Temp), MaxTokens: req.MaxTokens})
		}
	case "followup":
		var req FollowUpRequest
		if err = dec.Decode(&req); err == nil {
			patient = req.PatientID
			out, err = FollowUp(ctx, h.deps, req)
		}
	}
	if err != nil {
		st := statusOf(err)
		msg := err.Error()
		if st >= 500 && !errors.Is(err, ErrNoModel) {
			// A failure inside the server (the patient memory, the model) may name the patient and the
			// store's path: the client gets the request id, the log the details without the patient
			// (issue 15, finding 10).
			slog.Error("clinic request failed", "id", w.Header().Get("X-Request-Id"), "op", op, "err", redact(msg, patient))
			msg = fmt.Sprintf("internal server error (request id %s; the server log has the details)", w.Header().Get("X-Request-Id"))
		}
		writeJSON(w, st, apiError{msg})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// sampling applies a request's seed and temperature to the default sampling.
func (h *handler) sampling(seed *int64, temp *float32) *sample.Options {
	sp := h.deps.Sampling
	if seed != nil {
		sp.Seed = *seed
	}
	if temp != nil {
		sp.Temperature = *temp
	}
	return &sp
}

// maxTokens and maxTemperature bound the sampling fields a clinic request may set, as the server's
// options.num_predict and options.temperature are (server/limits.go).
const (
	maxTokens      = 1 << 20
	maxTemperature = 100
)

func checkTemperature(t *float32) error {
	if t != nil && (*t < 0 || *t > maxTemperature) {
		return errBadRequest(fmt.Sprintf("temperature: %v is out of range (allowed: 0 to %d)", *t, maxTemperature))
	}
	return nil
}

// redact removes a patient id from text bound for the log (quoted as %q writes it, or bare).
func redact(text, patient string) string {
	if patient == "" {
		return text
	}
	text = strings.ReplaceAll(text, strconv.Quote(patient), `"[patient]"`)
	return strings.ReplaceAll(text, patient, "[patient]")
}

type badRequest string

func (e badRequest) Error() string { return string(e) }

func errBadRequest(s string) error { return badRequest(s) }

func statusOf(err error) int {
	var br badRequest
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &br), errors.As(err, &se), errors.As(err, &ute), errors.Is(err, engine.ErrPromptTooLong),
		strings.HasPrefix(err.Error(), "json: unknown field"),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoModel):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
