package engine

// Close releases what a model holds beyond the Go heap once nothing uses it
// (every session closed, no step running): its backend's kernel worker pool
// and buffer pools. Without it every unload left a pool of spinning-then-
// parked workers behind, so a server that loads and evicts models under a
// memory budget leaked goroutines and scratch memory with each cycle. The
// private weights are freed when the Model is collected. Close is
// idempotent; the model must not be used after it.
func (m *Model) Close() {
	m.backend.Finalize()
}
