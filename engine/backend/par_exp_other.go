//go:build !amd64

package backend

// expNegAbs is expNegAbsGo (no assembly on this architecture).
func expNegAbs(x []float32, e []float64) { expNegAbsGo(x, e) }

// hasAVX2 reports the assembly path (none here).
const hasAVX2 = false
