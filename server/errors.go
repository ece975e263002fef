package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"dayi/engine"
)

// clientError is what a client may be told about err. dayi's own client
// errors (reqError, a busy server, an unknown model, an unsupported
// architecture, a prompt that is too long, a fallback peer's status) were
// written for clients and pass unchanged. Anything else is a failure inside
// the server (a file, a store, the engine) whose text may hold server paths
// or patient data: the client learns only that the server failed and the
// request id under which the log has the details (issue 15, finding 10).
func clientError(r *http.Request, err error) error {
	var re *reqError
	var se statusErr
	switch {
	case errors.As(err, &re), errors.As(err, &se), errors.Is(err, ErrBusy), errors.Is(err, ErrUnknownModel),
		errors.Is(err, ErrUnsupportedArch), errors.Is(err, engine.ErrPromptTooLong), errors.Is(err, engine.ErrNoVision), errors.Is(err, engine.ErrImagePrompt):
		return err
	}
	if statusOf(err) < 500 {
		return err
	}
	return internalError{id: info(r).id, err: err}
}

// internalError hides err's text from clients but keeps it for errors.Is
// and the status code.
type internalError struct {
	id  string
	err error
}

func (e internalError) Error() string {
	return fmt.Sprintf("internal server error (request id %s; the server log has the details)", e.id)
}

func (e internalError) Unwrap() error { return e.err }

// redact removes a patient id from text bound for the log, quoted (as %q
// writes it) or bare: errors of the patient memory name the patient, and
// logs must never hold patient identifiers.
func redact(text, patientID string) string {
	if patientID == "" {
		return text
	}
	text = strings.ReplaceAll(text, strconv.Quote(patientID), `"[patient]"`)
	return strings.ReplaceAll(text, patientID, "[patient]")
}

// logStreamErr logs a failure that ends a stream already under way (fail
// logs the others).
func (s *Server) logStreamErr(r *http.Request, err error) {
	if statusOf(err) >= 500 {
		s.log.Error("request failed mid-stream", "id", info(r).id, "err", redact(err.Error(), info(r).patientID))
	}
}
