//go:build race

package server

// raceDetector: this test binary runs under the race detector, whose shadow
// memory multiplies the process's RSS (5–10× per the Go documentation), so
// RSS budgets are checked only in the plain run.
const raceDetector = true
