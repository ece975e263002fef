// Package server is dayi's HTTP API: Ollama- and OpenAI-compatible endpoints
// over the engine, so the Ollama and OpenAI clients and UIs a hospital
// already has work unchanged against an offline dayi server.
//
// A request flows: outer middleware (request id, Host and Origin checks,
// CORS, Bearer auth, scopes from the access table in authz.go, body limit) → route instrumentation (metrics, slog line, audit record; none of
// them sees prompt or output text) → handler (decode, validate into a job) →
// run (knowledge and patient-memory grounding, admission queue, model
// registry under the model memory budget, engine or Ollama fallback) → the
// API's own response writer, fed through a bounded buffer so a client that
// stops reading is cancelled instead of stalling the other requests
// (resources.go).
package server
